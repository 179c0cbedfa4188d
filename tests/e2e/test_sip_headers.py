"""Variables from the call, over a real SIP call: an `X-Customer-Id` header the phone puts on
its INVITE passes the dev trunk (`include_headers: x`), reaches the worker as the caller's
`sip.h.x-customer-id` attribute, and is spoken in the greeting as `{sip_h_x_customer_id}`,
beside `{caller_number}` (the From user)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from callcheck.phone import dial
from dialroom.calls import CALL_KEY, CALLS_BY_END
from dialroom.paths import ROOT
from tests.support.stack import RunningStack, start_stack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e

# A common word Whisper tiny hears reliably, so the assert is about the header, not the STT.
CUSTOMER = "pineapple"
CALLER = "4711"
GREETER = """
stt: {provider: local}
llm: {provider: flow}
tts: {provider: local}
greeting:
  inbound: "Hello {sip_h_x_customer_id} customer, you are calling from {caller_number}."
flow:
  - collect: day
    choices: [monday, tuesday]
  - say: "Thanks, goodbye."
    end_call: true
"""


@pytest.fixture(scope="module")
def greeter_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    agents = tmp_path_factory.mktemp("agents")
    (agents / "greeter.yaml").write_text(GREETER)
    (agents / "demo.yaml").write_text((ROOT / "agents" / "demo.yaml").read_text())
    running = start_stack(
        tmp_path_factory.mktemp("headers"),
        extra_args=("--persona", "greeter"),
        env={"AGENTS_DIR": str(agents)},
    )
    try:
        yield running
    finally:
        running.stop()


def _record_of_next_call(client: redis.Redis, before: set[bytes]) -> dict:
    deadline = time.monotonic() + 20
    while not (new := set(client.zrange(CALLS_BY_END, 0, -1)) - before):
        assert time.monotonic() < deadline, "no call record"
        time.sleep(0.25)
    return json.loads(client.get(CALL_KEY.format(call_id=new.pop().decode())) or "{}")


def test_an_x_header_on_the_invite_is_spoken_in_the_greeting(
    greeter_stack: RunningStack, tmp_path: Path
) -> None:
    client = redis.Redis(port=greeter_stack.redis_port)
    before = set(client.zrange(CALLS_BY_END, 0, -1))
    heard = tmp_path / "heard.wav"
    result = dial(
        greeter_stack.state.sip_uri,
        result_dir=tmp_path,
        record=heard,
        hangup_after=10,
        timeout=30,
        from_user=CALLER,
        headers={"X-Customer-Id": CUSTOMER},
    )
    assert result.call.status_code == 200, result.call.reason
    text = transcribe_wav(heard).lower()
    assert CUSTOMER in text, f"the header did not reach the greeting: {text!r}"
    # Piper reads 4711 as a number; Whisper writes it as digits ("4,711" or "4711").
    assert CALLER in re.sub(r"[^0-9]", "", text), f"caller number not spoken: {text!r}"
    record = _record_of_next_call(client, before)
    assert record["persona"] == "greeter" and record["caller_number"] == CALLER, record


def test_a_call_without_the_header_leaves_the_variable_empty(
    greeter_stack: RunningStack, tmp_path: Path
) -> None:
    heard = tmp_path / "heard.wav"
    result = dial(greeter_stack.state.sip_uri, result_dir=tmp_path, record=heard, hangup_after=8)
    assert result.call.status_code == 200, result.call.reason
    text = transcribe_wav(heard).lower()
    assert "customer" in text and CUSTOMER not in text, text
