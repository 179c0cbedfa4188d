"""livekit-sip killed under a live call: the agent stops at once, not at the silence limit.

A real phone (pjsua) calls the real stack (livekit-sip -> livekit-server -> worker); once the
conversation has begun, livekit-sip is SIGKILLed (start.py's supervisor starts it again, as on
a real box, but the call it carried is gone). The call must be recorded `sip_bridge_lost`
(`worker.bridge_loss`), well before its persona's silence limit would have ended it as
`caller_silent`, which is what happened before: the caller's participant lingers in the room
until livekit-server's ICE and clean-up timers run out (~20 s) and then leaves with
`CONNECTION_TIMEOUT`, which livekit-agents does not treat as a hang-up.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from callcheck.phone import start_dialing
from dialroom.calls import CALL_KEY, CALLS_BY_END
from dialroom.live_calls import LIVE
from tests.support.crash_faults import service_pid
from tests.support.stack import RunningStack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SILENCE_LIMIT_S = 60.0  # the persona's: no re-prompt, no hang-up for a minute
PERSONA = f"""
stt: {{provider: local}}
llm: {{provider: flow}}
tts: {{provider: local}}
flow:
  - collect: day
    choices: [monday, tuesday]
numbers: ["2001"]
greeting: {{inbound: "Hello, this is the bridge line. Which day suits you?"}}
limits:
  silence: {{reprompt_after_s: {SILENCE_LIMIT_S}, reprompts: 0}}
"""


@pytest.fixture(scope="module")
def bridge_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    agents = tmp_path_factory.mktemp("agents")
    (agents / "bridge.yaml").write_text(PERSONA)
    (agents / "demo.yaml").write_text(Path("agents/demo.yaml").read_text())
    running = start_stack(tmp_path_factory.mktemp("bridge"), env={"AGENTS_DIR": str(agents)})
    yield running
    running.stop()


def wait_for(check: object, what: str, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while not (found := check()):  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


def test_killing_livekit_sip_mid_call_ends_it_as_sip_bridge_lost(
    bridge_stack: RunningStack, tmp_path: Path
) -> None:
    store = redis.Redis(port=bridge_stack.redis_port)
    before = set(store.zrange(CALLS_BY_END, 0, -1))
    uri = bridge_stack.state.sip_uri.replace("sip:1000@", "sip:2001@")
    with start_dialing(uri, result_dir=tmp_path, timeout=90) as phone:
        wait_for(lambda: store.zcard(LIVE), "the conversation never began", 60)
        time.sleep(2.0)  # the agent is greeting the caller
        os.kill(service_pid(bridge_stack, "livekit-sip"), signal.SIGKILL)
        killed = time.monotonic()
        new = wait_for(
            lambda: set(store.zrange(CALLS_BY_END, 0, -1)) - before,
            "the call was never recorded",
            SILENCE_LIMIT_S + 20,
        )
        took = time.monotonic() - killed
        phone.stop()
    (call_id,) = new  # type: ignore[misc]
    record = json.loads(store.get(CALL_KEY.format(call_id=call_id.decode())) or "{}")
    worker_log = bridge_stack.log("worker-1")
    print(
        f"ended {took:.1f}s after the SIGKILL:",
        *[line for line in worker_log.splitlines() if "SIP bridge lost" in line],
    )
    assert record["persona"] == "bridge" and record["outcome"] == "sip_bridge_lost", record
    assert took < SILENCE_LIMIT_S / 2, f"ended {took:.1f}s after livekit-sip died"
