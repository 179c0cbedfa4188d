"""Routing through trunks from a telephony file, over real SIP calls: `start.py sip apply`
provisions them; each persona answers its own number, an unlisted number gets the trunk's
default persona, a number with neither hears "not in service", and a call from an address
the trunk does not allow is turned away by the SIP bridge.

The dev trunk of `start.py up --dev` (any number from 127.0.0.1) is removed first, as in a
production setup, so only the file's trunks decide."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from livekit import api

from callcheck.phone import dial
from dialroom.calls import CALL_KEY, CALLS_BY_END
from dialroom.paths import ROOT
from dialroom.settings import DEV_API_KEY, DEV_API_SECRET
from sip.provision import DEV_NAME
from tests.support.stack import RunningStack, start_stack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e

FLOW = """
stt: {provider: local}
llm: {provider: flow}
tts: {provider: local}
flow:
  - collect: day
    choices: [monday, tuesday]
  - say: "Thanks, goodbye."
    end_call: true
"""
PERSONAS = {
    "alpha": FLOW + 'numbers: ["2101"]\ngreeting: {inbound: "Hello, this is the alpha desk."}\n',
    "beta": FLOW + 'numbers: ["2102"]\ngreeting: {inbound: "Hello, this is the beta desk."}\n',
}
TELEPHONY = """
inbound:
  - {name: lines, numbers: ["2101", "2102", "2103"], allowed_addresses: ["127.0.0.1/32"]}
  - {name: spare, numbers: ["2201"], allowed_addresses: ["127.0.0.1/32"]}
  - {name: locked, numbers: ["2301"], allowed_addresses: ["127.0.0.2/32"]}
dispatch:
  - {name: lines, trunks: [lines], default_persona: beta, room_prefix: lines-}
  - {name: spare, trunks: [spare]}
  - {name: locked, trunks: [locked], default_persona: alpha}
"""


async def _remove_dev_inbound(url: str) -> None:
    async with api.LiveKitAPI(
        url=url.replace("ws://", "http://"), api_key=DEV_API_KEY, api_secret=DEV_API_SECRET
    ) as lk:
        for rule in (await lk.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())).items:
            if rule.name == DEV_NAME:
                await lk.sip.delete_dispatch_rule(
                    api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule.sip_dispatch_rule_id)
                )
        for trunk in (await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())).items:
            if trunk.name == DEV_NAME:
                await lk.sip.delete_trunk(
                    api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id)
                )


@pytest.fixture(scope="module")
def routed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    agents = tmp_path_factory.mktemp("agents")
    for name, text in PERSONAS.items():
        (agents / f"{name}.yaml").write_text(text)
    (agents / "demo.yaml").write_text((ROOT / "agents" / "demo.yaml").read_text())
    config = tmp_path_factory.mktemp("sip") / "telephony.yaml"
    config.write_text(TELEPHONY)
    running = start_stack(tmp_path_factory.mktemp("routing"), env={"AGENTS_DIR": str(agents)})
    try:
        asyncio.run(_remove_dev_inbound(running.state.livekit_url))
        env = {**os.environ, "LIVEKIT_URL": running.state.livekit_url, "AGENTS_DIR": str(agents)}
        argv = [sys.executable, "start.py", "sip", "apply", "--dev", "--file", str(config)]
        applied = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        yield running
    finally:
        running.stop()


def call(
    stack: RunningStack, number: str, tmp_path: Path, *, bind: str | None = None
) -> tuple[str, dict]:
    """Dial `number` (from loopback address `bind`); what the caller heard and the record."""
    client = redis.Redis(port=stack.redis_port)
    before = set(client.zrange(CALLS_BY_END, 0, -1))
    heard = tmp_path / f"heard-{number}.wav"
    uri = stack.state.sip_uri.replace("sip:1000@", f"sip:{number}@")
    result = dial(uri, result_dir=tmp_path, record=heard, hangup_after=8, timeout=30, bind=bind)
    assert result.call.status_code == 200, f"{number}: {result.call.reason}"
    deadline = time.monotonic() + 20
    while not (new := set(client.zrange(CALLS_BY_END, 0, -1)) - before):
        assert time.monotonic() < deadline, "no call record"
        time.sleep(0.25)
    record = json.loads(client.get(CALL_KEY.format(call_id=new.pop().decode())) or "{}")
    return transcribe_wav(heard).lower(), record


def test_each_persona_answers_its_own_number(routed_stack: RunningStack, tmp_path: Path) -> None:
    for number, persona in (("2101", "alpha"), ("2102", "beta")):
        text, record = call(routed_stack, number, tmp_path)
        assert f"{persona} desk" in text, f"{number} reached the wrong persona: {text!r}"
        assert record["persona"] == persona and record["called_number"] == number
        assert record["room"].startswith("lines-"), record["room"]  # the file's room_prefix


def test_an_unlisted_number_gets_the_trunk_default_from_the_file(
    routed_stack: RunningStack, tmp_path: Path
) -> None:
    text, record = call(routed_stack, "2103", tmp_path)
    assert "beta desk" in text, text
    assert record["persona"] == "beta"


def test_a_number_with_no_persona_and_no_default_hears_not_in_service(
    routed_stack: RunningStack, tmp_path: Path
) -> None:
    text, record = call(routed_stack, "2201", tmp_path)
    assert "not in service" in text, text
    assert record["outcome"] == "not_in_service" and record["called_number"] == "2201"


def test_a_trunk_answers_its_allowed_address_and_drops_others(
    routed_stack: RunningStack, tmp_path: Path
) -> None:
    # `locked` allows only 127.0.0.2: a phone calling from there is answered by the rule's
    # default persona (SIP and RTP between 127.0.0.2 and the bridge on 127.0.0.1)...
    text, record = call(routed_stack, "2301", tmp_path, bind="127.0.0.2")
    assert "alpha desk" in text, f"the allowed address was not answered: {text!r}"
    assert record["persona"] == "alpha" and record["called_number"] == "2301", record
    # ...while the same call from 127.0.0.1 is dropped without an answer (no hint for
    # scanners), so the phone gives up: never connected, no room, no agent, no call record.
    client = redis.Redis(port=routed_stack.redis_port)
    before = client.zcard(CALLS_BY_END)
    uri = routed_stack.state.sip_uri.replace("sip:1000@", "sip:2301@")
    result = dial(uri, result_dir=tmp_path, timeout=10)
    assert not result.call.connected and result.call.confirmed_at is None
    assert result.call.status_code != 200, result.call.reason
    closed = [
        line
        for line in routed_stack.log("livekit-sip").splitlines()
        if "Closing inbound call" in line
        and '"toUser": "2301"' in line
        and '"fromIP": "127.0.0.1"' in line
    ]
    assert closed and all('"result": "client_error"' in line for line in closed), closed
    time.sleep(2)
    assert client.zcard(CALLS_BY_END) == before, "a worker took the rejected call"
