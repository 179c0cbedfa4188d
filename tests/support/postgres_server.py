"""A real PostgreSQL server (Debian's `postgresql` package) for the history tests.

A fresh cluster per test session: `initdb` into a temporary folder, `postgres` on a free
loopback port with its socket in that folder, trust authentication for one user, and no
fsync (the data is thrown away). PostgreSQL refuses to run as root, so under root the folder
is given to the `postgres` system user the Debian package creates and both programs run as
that user through `runuser`; as any other user they run directly.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stack.ports import pick_free_ports

USER = "dialroom"
SERVER_OPTIONS = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")


def postgres_bin() -> Path:
    """The newest installed server's programs (`/usr/lib/postgresql/<version>/bin`)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if not found:
        raise RuntimeError(
            "PostgreSQL server not installed: run `python start.py install --test-tools` "
            "(Debian package `postgresql`)"
        )
    return Path(found[-1]).parent


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the admin URL (`postgresql://dialroom@127.0.0.1:<port>/postgres`) of a new server."""
    folder = Path(tempfile.mkdtemp(prefix="dialroom-pg-"))
    try:
        with _running(folder) as port:
            yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _running(folder: Path) -> Iterator[int]:
    binaries, data = postgres_bin(), folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres", group="postgres")
    initdb = [str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "--no-sync"]
    subprocess.run(_as_owner(initdb), check=True, capture_output=True)
    port = pick_free_ports(1).redis
    server = [str(binaries / "postgres"), "-D", str(data), "-p", str(port)]
    server += ["-h", "127.0.0.1", "-k", str(folder), *SERVER_OPTIONS]
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(_as_owner(server), stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(binaries, port, process, folder)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _wait_ready(binaries: Path, port: int, process: subprocess.Popen[bytes], folder: Path) -> None:
    ready = [str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", USER]
    deadline = time.monotonic() + 30
    while subprocess.run(ready, capture_output=True).returncode != 0:
        if time.monotonic() > deadline or process.poll() is not None:
            log = (folder / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"postgres on port {port} did not start:\n{log}")
        time.sleep(0.05)


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _version(path: str) -> float:
    return float(Path(path).parent.parent.name)
