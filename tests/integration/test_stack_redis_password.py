"""Outside development mode both Redis servers of the stack (Dialroom's and LiveKit's) have a
password, and every process of the stack (livekit-server, livekit-sip, the API, the
dispatcher, a worker) works with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError

from dialroom.paths import ROOT
from stack.state import StackState, read_state

pytestmark = pytest.mark.integration

PASSWORD = "a-redis-password-for-the-test-1234"
ENV = {
    "LIVEKIT_API_KEY": "prod-key",
    "LIVEKIT_API_SECRET": "a-production-secret-of-40-characters-xxxx",
    "API_KEYS": "a-client-key-of-more-than-32-characters-xx",
    "REDIS_PASSWORD": PASSWORD,
}


def wait_state(run_dir: Path, process: subprocess.Popen[str], output: Path) -> StackState:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, output.read_text()[-2000:]
        if (state := read_state(run_dir)) is not None:
            return state
        time.sleep(0.5)
    raise AssertionError(f"the stack did not come up: {output.read_text()[-2000:]}")


def test_a_production_stack_runs_on_a_redis_with_a_password(tmp_path: Path) -> None:
    run_dir, output = tmp_path / "run", tmp_path / "start.out"
    argv = [sys.executable, str(ROOT / "start.py"), "up", "--auto-ports", "--num-agents", "1"]
    with output.open("w") as out:
        process = subprocess.Popen(
            [*argv, "--run-dir", str(run_dir)],
            cwd=tmp_path,  # no .env here
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "COLUMNS": "300", **ENV},
        )
    try:
        state = wait_state(run_dir, process, output)
        for url in (state.redis_url, state.livekit_redis_url):  # Dialroom's and LiveKit's
            with pytest.raises(AuthenticationError), Redis(port=urlsplit(url).port) as anonymous:
                anonymous.ping()
            with Redis.from_url(url) as client:
                assert client.ping()
        with urllib.request.urlopen(f"{state.api_url}/health/ready", timeout=10) as ready:
            assert json.load(ready) == {"status": "ok", "redis": "ok", "livekit": "ok"}
        assert PASSWORD not in output.read_text()  # printed nowhere
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=150) == 0
