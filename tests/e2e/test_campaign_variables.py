"""A campaign's CSV column is spoken in a real SIP call's greeting: POST /api/campaigns (CSV)
-> feeder -> queue -> dispatcher -> worker dials the test phone, and the `reminder` persona's
declared variable `{appointment_day}` (default "tomorrow") is said with the row's value."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from callcheck.phone import answer_once
from tests.e2e.conftest import FIXTURES
from tests.support.stack import RunningStack, start_stack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e

CSV = "to_number,caller_name,appointment_day\n+14155550123,Sam,on Thursday\n"
GREETING = (
    "Hi Sam, this is Dialroom calling about your appointment on Thursday. "
    "Will you be able to make it, yes or no?"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, phone_port: int) -> Iterator[RunningStack]:
    env = {"SIP_DEV_OUTBOUND_ADDRESS": f"127.0.0.1:{phone_port}", "RING_TIMEOUT_S": "6"}
    running = start_stack(tmp_path_factory.mktemp("campaign-vars"), num_agents=1, env=env)
    yield running
    running.stop()


def campaign_call(client: httpx.Client, campaign_id: str) -> str:
    calls = client.get("/api/calls", params={"limit": 100}).json()["calls"]
    [call_id] = [c["call_id"] for c in calls if c["campaign_id"] == campaign_id]
    return str(call_id)


def wait_completed(client: httpx.Client, call_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        call = client.get(f"/api/calls/{call_id}").json()
        if call["status"] == "completed" and call["record"] is not None:
            return call
        assert call["status"] not in {"failed", "busy", "no-answer", "rejected", "canceled"}, call
        time.sleep(0.5)
    raise AssertionError(f"call {call_id} did not complete: {client.get(f'/api/calls/{call_id}')}")


def test_a_csv_column_is_spoken_in_the_greeting(
    client: httpx.Client, phone_port: int, tmp_path: Path
) -> None:
    heard = tmp_path / "heard.wav"
    # "Hello?" (a person, for the reminder's voicemail check), then "yes" after the greeting
    play = [(FIXTURES / "callee_hello.wav", 0.5), (FIXTURES / "callee_yes.wav", 13.0)]
    with answer_once(phone_port, tmp_path, play=play, record=heard) as phone:
        response = client.post(
            "/api/campaigns",
            params={"persona": "reminder"},
            content=CSV,
            headers={"Content-Type": "text/csv"},
        )
        assert response.status_code == 201, response.text
        call_id = campaign_call(client, response.json()["campaign_id"])
        call = wait_completed(client, call_id)
        phone.result(timeout=30)
    assert call["request"]["variables"] == {"appointment_day": "on Thursday"}
    said = [line["text"] for line in call["record"]["transcript"] if line["role"] == "agent"]
    assert said[0] == GREETING, said
    text = transcribe_wav(heard).lower()
    assert "thursday" in text and "make it" in text, f"greeting not heard: {text!r}"
    assert "tomorrow" not in text, text  # the persona's default was not used
