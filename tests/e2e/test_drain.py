"""Stopping the stack mid-call drains: the running call is finished, then everything stops."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from callcheck.phone import start_dialing
from tests.e2e.conftest import FIXTURES
from tests.support.stack import start_stack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e


def test_sigterm_mid_call_lets_the_call_finish_then_stops(tmp_path: Path) -> None:
    stack = start_stack(tmp_path / "stack", num_agents=1)
    heard = tmp_path / "heard.wav"
    try:
        phone = start_dialing(
            stack.state.sip_uri,
            result_dir=tmp_path,
            play=[(FIXTURES / "caller_tuesday.wav", 7.0)],
            record=heard,
            hangup_after=40,
            timeout=60,
        )
        time.sleep(3.0)  # the greeting is playing
        stack.process.send_signal(signal.SIGTERM)
        result = phone.result(timeout=60)
        assert stack.process.wait(timeout=90) == 0
    finally:
        stack.stop()
    assert result.call.remote_hangup, "the agent finished the conversation and hung up"
    text = transcribe_wav(heard).lower()
    assert "tuesday" in text and "goodbye" in text, text
    assert "draining" in stack.log("worker-1").lower()
