"""Capacity over real calls: NUM_AGENTS=2 workers with two calls each; a fifth simultaneous
caller hears that all lines are busy instead of ringing into silence."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from dialroom.calls import CALL_KEY, CALLS_BY_END
from tests.support.phone import start_dialing, voiced_seconds
from tests.support.stack import running_stack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e


def test_five_calls_on_two_workers_of_two_give_four_answers_and_one_busy(
    tmp_path: Path,
) -> None:
    env = {"MAX_CALLS_PER_WORKER": "2", "WORKER_IDLE_PROCESSES": "2"}
    with running_stack(tmp_path / "stack", num_agents=2, env=env) as stack:
        phones = []
        for i in range(5):
            folder = tmp_path / f"call-{i}"
            folder.mkdir()
            phones.append(
                start_dialing(
                    stack.state.sip_uri,
                    result_dir=folder,
                    record=folder / "heard.wav",
                    hangup_after=14,
                    timeout=60,
                )
            )
            time.sleep(0.7)  # arrivals a moment apart, as real callers are
        results = [phone.result(timeout=90) for phone in phones]
        client = redis.Redis(port=stack.redis_port)
        deadline = time.monotonic() + 30
        while client.zcard(CALLS_BY_END) < 5 and time.monotonic() < deadline:
            time.sleep(0.5)
        records = [
            json.loads(client.get(CALL_KEY.format(call_id=c.decode())) or "{}")
            for c in client.zrange(CALLS_BY_END, 0, -1)
        ]

    assert all(r.call.status_code == 200 for r in results)
    assert sorted(r["outcome"] for r in records) == ["caller_hung_up"] * 4 + ["lines_busy"]
    greeted = [r for r in records if any("which day" in t["text"].lower() for t in r["transcript"])]
    assert len(greeted) == 4, "four conversations got the persona's greeting"
    recordings = [r.call.recording for r in results if r.call.recording]
    assert all(voiced_seconds(wav) > 2 for wav in recordings), "every caller heard speech"
    heard = [transcribe_wav(wav).lower() for wav in recordings]
    assert sum("busy" in text for text in heard) == 1, heard
