"""A worker killed with SIGKILL mid-call (the OOM killer, a crash) drops only its own call:
the other worker's call goes on to its goodbye, and the next caller is still answered."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from callcheck.phone import CallResult, PhoneProcess, start_recorded_dial
from tests.e2e.conftest import FIXTURES
from tests.support.stack import RunningStack, running_stack
from tests.support.workers import call_owner, service_pid
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e

CALLERS = ("alice", "bob")


def call(stack: RunningStack, folder: Path, caller: str, *, play_at: float) -> PhoneProcess:
    return start_recorded_dial(
        stack.state.sip_uri,
        folder,
        from_user=caller,
        play=[(FIXTURES / "caller_tuesday.wav", play_at)],
        hangup_after=60,
        timeout=75,
    )


def heard(result: CallResult) -> str:
    assert result.recording is not None, "no recording"
    return transcribe_wav(result.recording).lower()


def test_sigkill_of_one_worker_drops_only_its_own_call(tmp_path: Path) -> None:
    # One line per worker, so the second caller is sent to the other worker.
    env = {"MAX_CALLS_PER_WORKER": "1", "WORKER_IDLE_PROCESSES": "1"}
    with running_stack(tmp_path / "stack", num_agents=2, env=env) as stack:
        phones = {}
        for caller in CALLERS:
            phones[caller] = call(stack, tmp_path / caller, caller, play_at=9.0)
            time.sleep(1.0)
        owners = {caller: call_owner(stack, caller) for caller in CALLERS}
        assert sorted(owners.values()) == ["worker-1", "worker-2"], owners
        # The worker's main process only, as a crash would: nothing of it says goodbye.
        os.kill(service_pid(stack, owners["alice"]), signal.SIGKILL)
        alice, bob = (phones[caller].result(timeout=90).call for caller in CALLERS)
        survivor = stack.log(owners["bob"])
        assert "draining worker" not in survivor, "one dead worker must not stop the others"
        carol = call(stack, tmp_path / "carol", "carol", play_at=7.0).result(timeout=90).call

    assert alice.connected and alice.remote_hangup, "the dead worker's caller is hung up"
    assert "goodbye" not in heard(alice), "...without the rest of the conversation"
    assert bob.remote_hangup, "the other worker's call ends as the persona ends it"
    assert "tuesday" in (text := heard(bob)) and "goodbye" in text, text
    assert carol.status_code == 200 and carol.remote_hangup, "a new caller is still answered"
    assert "which day" in (text := heard(carol)) and "goodbye" in text, text
