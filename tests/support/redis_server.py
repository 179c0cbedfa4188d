"""A real redis-server for a test: its own temp dir and free port, stopped afterwards."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stack.ports import pick_free_ports
from stack.probes import redis_ping


@contextmanager
def redis_server(data_dir: Path, *, appendonly: bool = True) -> Iterator[int]:
    """Yield the port of a fresh redis-server with `data_dir` as its working directory."""
    with redis_process(data_dir, appendonly=appendonly) as (port, _process):
        yield port


@contextmanager
def redis_process(
    data_dir: Path, *, appendonly: bool = True, port: int | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """As `redis_server`, with the process too (to pause it with SIGSTOP, say); `port`
    starts it again where a stopped one was."""
    port = port or pick_free_ports(1).redis
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes" if appendonly else "no",
        "--save",
        "",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not _ready(port):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"redis-server on port {port} did not start")
            time.sleep(0.05)
        yield port, process
    finally:
        process.send_signal(signal.SIGCONT)  # a paused server cannot stop
        process.terminate()
        process.wait(timeout=10)


def _ready(port: int) -> bool:
    try:
        return redis_ping(port)
    except OSError:
        return False
