"""Run the real stack for a test or a benchmark: `start.py up --dev --auto-ports` as a child.

The stack is exactly what a user gets from `python start.py up`, on free loopback ports, so
two runs never collide; it is stopped with SIGTERM, as a user's Ctrl-C would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from dialroom.paths import ROOT
from dialroom.settings import DEV_DIALROOM_API_KEY
from stack.state import StackState, read_state


class StackFailed(Exception):
    """The stack did not come up; carries the end of start.py's output."""


@dataclass
class RunningStack:
    process: subprocess.Popen[str]
    run_dir: Path
    state: StackState
    output: Path

    @property
    def redis_port(self) -> int:
        return int(self.state.redis_url.rsplit(":", 1)[1].split("/")[0])

    def api_client(self) -> httpx.Client:
        """A client of the stack's API, with the development key (`start.py up` in dev mode)."""
        headers = {"X-API-Key": DEV_DIALROOM_API_KEY}
        return httpx.Client(base_url=self.state.api_url, headers=headers, timeout=10)

    def log(self, name: str) -> str:
        return (self.run_dir / "logs" / f"{name}.log").read_text(errors="replace")

    def stop(self, timeout: float = 150.0) -> int:
        # Workers drain for up to WORKER_DRAIN_S (60 s) before they are killed.
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def start_stack(
    run_dir: Path,
    *,
    num_agents: int = 1,
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float = 240.0,
) -> RunningStack:
    run_dir.mkdir(parents=True, exist_ok=True)
    output = run_dir / "start.out"
    argv = [sys.executable, str(ROOT / "start.py"), "up", "--dev", "--auto-ports"]
    argv += ["--run-dir", str(run_dir), "--num-agents", str(num_agents), *extra_args]
    child_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    with output.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True, env=child_env
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackFailed(f"start.py exited {process.returncode}: {output.read_text()[-2000:]}")
        state = read_state(run_dir)
        if state is not None:
            return RunningStack(process=process, run_dir=run_dir, state=state, output=output)
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    raise StackFailed(f"stack not ready after {timeout:.0f}s: {output.read_text()[-2000:]}")


@contextmanager
def running_stack(run_dir: Path, **kwargs: object) -> Iterator[RunningStack]:
    stack = start_stack(run_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield stack
    finally:
        stack.stop()
