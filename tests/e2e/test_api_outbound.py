"""Outbound calls end to end through the public API: POST /api/outbound-call -> queue ->
dispatcher -> worker dials the test phone over the dev trunk -> status, retries and the call
record come back through GET /api/calls/{id}."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from callcheck.phone import answer_once, start_answering
from tests.e2e.conftest import FIXTURES
from tests.support.stack import RunningStack, start_stack

pytestmark = pytest.mark.e2e
TERMINAL = {"completed", "busy", "no-answer", "rejected", "failed", "canceled"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, phone_port: int) -> Iterator[RunningStack]:
    env = {
        "SIP_DEV_OUTBOUND_ADDRESS": f"127.0.0.1:{phone_port}",
        "RING_TIMEOUT_S": "6",
        "RETRY_DELAY_S": "1",
        "RATE_LIMIT_PER_MINUTE": "100000",  # the tests poll; the limit has its own test
    }
    running = start_stack(tmp_path_factory.mktemp("api-outbound"), num_agents=1, env=env)
    yield running
    running.stop()


def place(client: httpx.Client, **body: Any) -> str:
    call = {"to_number": "+14155550123", "persona": "demo", **body}
    response = client.post("/api/outbound-call", json=call)
    assert response.status_code == 202, response.text
    return str(response.json()["call_id"])


def wait_final(client: httpx.Client, call_id: str, *, attempts: int, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/calls/{call_id}")
        assert response.status_code == 200, response.text
        call = response.json()
        if call["status"] in TERMINAL and call["attempts"] == attempts:
            return call
        time.sleep(0.5)
    last = client.get(f"/api/calls/{call_id}").json()
    raise AssertionError(f"call {call_id} did not end: {last}")


def test_an_api_call_is_answered_completes_and_shows_its_record(
    client: httpx.Client, phone_port: int, tmp_path: Path
) -> None:
    with answer_once(phone_port, tmp_path, play=[(FIXTURES / "caller_friday.wav", 7.0)]) as phone:
        call_id = place(client, caller_name="Sam")
        call = wait_final(client, call_id, attempts=1)
        result = phone.result(timeout=30)
    assert len(result.invites) == 1
    statuses = [event["status"] for event in call["history"]]
    assert statuses == ["queued", "dialing", "ringing", "answered", "completed"]  # dialing once
    record = call["record"]
    assert record is not None and record["direction"] == "outbound"
    assert record["called_number"] == "+14155550123"
    assert any("friday" in line["text"].lower() for line in record["transcript"])


def test_a_busy_callee_is_dialled_again_until_max_attempts(
    client: httpx.Client, phone_port: int, tmp_path: Path
) -> None:
    with start_answering(
        phone_port, result_dir=tmp_path, code=486, max_calls=2, duration=60, ring_s=0.5
    ) as phone:
        call_id = place(client, max_attempts=2)
        call = wait_final(client, call_id, attempts=2)
        result = phone.result(timeout=30)
    assert len(result.invites) == 2, "dialled once per attempt"
    assert call["status"] == "busy" and call["sip_code"] == 486
    retried = [e for e in call["history"] if e["status"] == "scheduled"]
    assert [e["attempt"] for e in retried] == [2]
    attempt = ["dialing", "ringing", "busy"]
    assert [e["status"] for e in call["history"]] == ["queued", *attempt, "scheduled", *attempt]
