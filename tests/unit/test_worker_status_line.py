"""`start.py status`'s phrase for a worker counts its calls as whole calls."""

from __future__ import annotations

import pytest

from stack import health
from stack.health import Health


def test_a_worker_s_calls_are_counted_as_whole_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    # livekit-agents' status endpoint sends its count of jobs as a float
    answer = {"agent_name": "dialroom", "active_jobs": 1.0, "worker_load": 0.2}
    monkeypatch.setattr(health, "_get_json", lambda url: answer)
    monkeypatch.setattr(health, "read_registration", lambda path: None)
    phrase = health.describe(Health(kind="worker", url="http://127.0.0.1:9", path="/x"), pid=1)
    assert phrase == "not registered, agent dialroom, 1 active call(s), load 0.20"
