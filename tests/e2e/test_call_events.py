"""A real SIP call into the real stack with WEBHOOK_URL set: the receiver on 127.0.0.1 gets a
signed `call.started` (with the SIP trunk livekit-sip names) while the call is live and
/metrics counts it, then `call.ended` with the transcript and latency once it is archived,
and /metrics has the call's reply latency by persona and trunk."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from callcheck.phone import start_dialing
from dialroom.webhooks import EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.e2e.conftest import FIXTURES
from tests.support.stack import RunningStack, start_stack

pytestmark = pytest.mark.e2e

SECRET = "whsec_e2e_events"


@dataclass
class Received:
    events: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(body) for _, body in self.events]


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, Received]]:
    found = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            found.events.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/events", found
    server.shutdown()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, receiver: tuple[str, Received]
) -> Iterator[RunningStack]:
    # the receiver is on loopback: allowed by name, as an operator would allow an inside host
    env = {
        "WEBHOOK_URL": receiver[0],
        "WEBHOOK_SECRET": SECRET,
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
    }
    running = start_stack(tmp_path_factory.mktemp("events"), num_agents=1, env=env)
    yield running
    running.stop()


def metric(api: httpx.Client, name: str, **labels: str) -> float | None:
    text = api.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return None


def wait_for(check: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {within_s:.0f}s"
        time.sleep(0.25)


def test_an_inbound_call_sends_started_and_ended_and_is_measured(
    stack: RunningStack, receiver: tuple[str, Received], tmp_path: Path
) -> None:
    _, got = receiver
    live = {"persona": "demo", "direction": "inbound"}
    with stack.api_client() as api:
        with start_dialing(
            stack.state.sip_uri,
            result_dir=tmp_path,
            play=[(FIXTURES / "caller_tuesday.wav", 7.0)],
            hangup_after=40,
            timeout=60,
        ) as phone:
            wait_for(lambda: len(got.events) >= 1, 30, "call.started")
            wait_for(lambda: metric(api, "dialroom_live_calls", **live) == 1, 10, "live call")
            assert phone.result(75).call.connected
        wait_for(lambda: len(got.events) >= 2, 30, "call.ended")
        started, ended = got.bodies()
        trunk = str(started["trunk"])
        voice = {"stage": "voice_to_voice", "persona": "demo", "trunk": trunk}
        measured = metric(api, "dialroom_stage_latency_seconds_count", **voice)
        still_live = metric(api, "dialroom_live_calls", **live)

    call_id = started["call_id"]
    assert [h[EVENT_HEADER] for h, _ in got.events] == [f"{call_id}:started", f"{call_id}:ended"]
    for headers, body in got.events:
        assert verify(
            SECRET,
            body,
            timestamp=headers.get(TIMESTAMP_HEADER),
            signature_header=headers.get(SIGNATURE_HEADER),
            now=time.time(),
        )
    assert started["type"] == "call.started" and started["direction"] == "inbound"
    assert trunk.startswith("ST_"), f"livekit-sip's trunk id expected: {started}"
    assert ended["type"] == "call.ended" and ended["call_id"] == call_id
    assert ended["outcome"] == "agent_hung_up" and ended["trunk"] == trunk
    said = [str(line["text"]).lower() for line in ended["transcript"]]  # type: ignore[union-attr,index]
    assert any("tuesday" in line for line in said), said
    latency = ended["latency"]
    assert isinstance(latency, dict) and latency["stages"]["voice_to_voice_s"]["max_s"] > 0
    assert measured is not None and measured >= 1
    assert still_live is None  # off the live list once archived
