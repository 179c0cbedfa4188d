"""Dialroom's Redis out of reach for 30 s (paused with SIGSTOP: a stalled host, a long fork, a
network fault) while two workers each hold a live call ends neither call.

When Redis is back every lease has run out at once; the workers renew theirs before any of them
reaps another's calls (`worker.heartbeat`). LiveKit's signalling runs over its own Redis
(`livekit-redis`), which stays up: livekit-server itself drops calls when *its* Redis stalls
for ~10 s, and this test is about Dialroom's store.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from callcheck.phone import PhoneProcess, start_dialing
from dialroom.worker_lines import LEASE_TTL_MS
from stack.state import ServiceState
from tests.support.stack import RunningStack, running_stack
from tests.support.workers import call_owner

pytestmark = pytest.mark.e2e

CALLERS = ("alice", "bob")
PAUSE_S = 30.0
HANG_UP_AT_S = 75.0  # the phones hang up themselves, well after Redis is back
# The demo persona, patient with a silent caller for longer than the test lasts.
PATIENT = "\nlimits: {silence: {reprompt_after_s: 120, reprompts: 0}}\n"


def call(stack: RunningStack, folder: Path, caller: str) -> PhoneProcess:
    folder.mkdir(parents=True, exist_ok=True)
    return start_dialing(
        stack.state.sip_uri,
        result_dir=folder,
        from_user=caller,
        hangup_after=HANG_UP_AT_S,
        timeout=HANG_UP_AT_S + 15,
    )


def dialroom_redis(stack: RunningStack) -> ServiceState:
    """The redis-server behind REDIS_URL (what the API, dispatcher and workers use), found by
    its port among the services `start.py up` reports; not LiveKit's."""
    port = urlsplit(stack.state.redis_url).port
    (found,) = (
        s for s in stack.state.services if s.address.startswith(f"redis://127.0.0.1:{port}/")
    )
    assert found.name == "redis" and "Dialroom" in found.address, found
    assert urlsplit(stack.state.livekit_redis_url).port != port, "LiveKit shares Dialroom's Redis"
    return found


def test_dialrooms_redis_paused_for_30_s_ends_no_live_call(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "demo.yaml").write_text(Path("agents/demo.yaml").read_text() + PATIENT)
    # One line per worker, so the second caller is sent to the other worker.
    env = {
        "MAX_CALLS_PER_WORKER": "1",
        "WORKER_IDLE_PROCESSES": "1",
        "AGENTS_DIR": str(agents),
    }
    with running_stack(tmp_path / "stack", num_agents=2, env=env) as stack:
        redis = dialroom_redis(stack)
        phones = {}
        for caller in CALLERS:
            phones[caller] = call(stack, tmp_path / caller, caller)
            time.sleep(1.0)
        owners = {caller: call_owner(stack, caller) for caller in CALLERS}
        assert sorted(owners.values()) == ["worker-1", "worker-2"], owners
        os.kill(redis.pid, signal.SIGSTOP)
        try:
            time.sleep(PAUSE_S)
        finally:
            os.kill(redis.pid, signal.SIGCONT)
        time.sleep(2 * LEASE_TTL_MS / 1000)  # long enough for any reaping to have happened
        results = {caller: phones[caller].result(timeout=60).call for caller in CALLERS}
        logs = "".join(stack.log(name) for name in sorted(set(owners.values())))

    for caller, result in results.items():
        assert result.connected, f"{caller}'s call was never answered"
        assert not result.remote_hangup, f"{caller}'s call was hung up before {HANG_UP_AT_S}s"
    assert "is gone: ending its call" not in logs, "a live worker was taken for dead"
