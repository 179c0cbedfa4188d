"""`start.py up` keeps its stack up: a process that dies is started again, the state file and
`start.py status` follow it, and the rest of the stack never notices."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dialroom.paths import ROOT
from stack.health import healthy
from stack.state import ServiceState, read_state
from tests.support.stack import RunningStack, running_stack

pytestmark = pytest.mark.integration


def service(stack: RunningStack, name: str) -> ServiceState:
    state = read_state(stack.run_dir)
    assert state is not None, "the stack's state file is gone: start.py stopped"
    return next(s for s in state.services if s.name == name)


def wait_started_again(stack: RunningStack, name: str, old_pid: int) -> ServiceState:
    """The service once the state file names a new, healthy process for it."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert stack.process.poll() is None, stack.output.read_text()[-2000:]
        current = service(stack, name)
        if current.pid != old_pid and current.health and healthy(current.health, current.pid):
            return current
        time.sleep(0.25)
    raise AssertionError(f"{name} was not started again: {stack.output.read_text()[-2000:]}")


def status_output(stack: RunningStack) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "start.py"), "status", "--run-dir", str(stack.run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_killed_api_is_started_again_and_the_stack_stays_up(tmp_path: Path) -> None:
    with running_stack(tmp_path / "stack", num_agents=0) as stack:
        before = {s.name: s.pid for s in stack.state.services}
        os.kill(before["api"], signal.SIGKILL)
        api = wait_started_again(stack, "api", before["api"])
        assert api.restarts == 1
        after = read_state(stack.run_dir)
        assert after is not None
        others = {s.name: s.pid for s in after.services if s.name != "api"}
        assert others == {name: pid for name, pid in before.items() if name != "api"}
        (api_row,) = [line for line in status_output(stack).splitlines() if " api " in line]
        assert str(api.pid) in api_row and "healthy" in api_row and "not healthy" not in api_row
        output = stack.output.read_text()
        assert "api stopped unexpectedly (code -9)" in output
        assert "starting api again" in output
        assert stack.process.poll() is None
    assert stack.process.returncode == 0, "stopped when asked, and only then"


def test_status_shows_dialrooms_redis_and_livekits_each_healthy(tmp_path: Path) -> None:
    with running_stack(tmp_path / "stack", num_agents=0) as stack:
        rows = status_output(stack).splitlines()
        state = stack.state
    (dialroom,) = [line for line in rows if " redis " in line]
    (livekit,) = [line for line in rows if " livekit-redis " in line]
    assert state.redis_url != state.livekit_redis_url
    for row, url, role in (
        (dialroom, state.redis_url, "Dialroom"),
        (livekit, state.livekit_redis_url, "LiveKit"),
    ):
        assert url in row and role in row, row  # dev mode: no password in the URLs
        assert "healthy" in row and "not healthy" not in row, row
