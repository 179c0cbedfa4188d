"""Call events to WEBHOOK_URL against a real Redis, a real SQLite history and a real HTTP
receiver on 127.0.0.1: `call.started` when a worker marks a call live, `call.ended` with the
whole call once the archiver has it, signed, retried under the same event id; and a
campaign's `callback_url` receiving its calls' statuses."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from dialroom import delivery_log, live_calls, metrics
from dialroom.call_status import CallStatus
from dialroom.calls import CallRecord, save_call_record
from dialroom.campaign_intake import create
from dialroom.campaigns import CALL_IDS_KEY, CampaignSpec
from dialroom.history import ArchivedCall, HistoryStore, open_history
from dialroom.recordings import RecordingRef
from dispatcher import webhooks
from dispatcher.archive import Archiver
from dispatcher.call_events import CallEventSource
from dispatcher.campaigns import feed_campaigns
from dispatcher.event_delivery import WEBHOOK_URL, EventSender
from dispatcher.service import Dispatcher
from dispatcher.settings import DispatcherSettings
from dispatcher.webhooks import WebhookSender
from tests.support.api_client import AUTH, make_client, post_csv
from tests.support.dispatching import eventually
from tests.support.history import sqlite_url
from tests.support.statuses import walk
from tests.support.webhook_receiver import Receiver, verifies

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SECRET = "whsec_events"
TRUNK = "ST_inbound_test"


@dataclass
class CallerLeg:
    """The SIP participant as the worker sees it (livekit-sip's attributes)."""

    attributes: dict[str, str]


@dataclass
class Answered:
    """The worker's call state at the answer, as `live_calls.begin` reads it."""

    call_id: str
    persona: str = "demo"
    direction: str = "inbound"
    room: str = "call-_+14155550123_abc"
    answered_at: float | None = None


@dataclass
class Events:
    source: CallEventSource
    sender: EventSender
    archiver: Archiver
    receiver: Receiver

    async def until(self, done: Callable[[], bool], within_s: float = 15) -> None:
        """Run the events loop and the archiver the way the dispatcher does, until `done`."""
        deadline = time.monotonic() + within_s
        while not done():
            assert time.monotonic() < deadline, "not delivered in time"
            await self.archiver.archive()
            await self.source.step()
            await self.sender.deliver_due()
            await asyncio.sleep(0.02)
        await self.sender.drain()

    def bodies(self) -> list[dict[str, object]]:
        return [json.loads(d.body) for d in self.receiver.received]


@pytest.fixture
async def history(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    store = await open_history(sqlite_url(tmp_path))
    yield store
    await store.close()


@pytest.fixture
def events(
    store: Redis, history: HistoryStore, http: httpx.AsyncClient, receiver: Receiver
) -> Events:
    url = f"{receiver.base_url}/hook"
    source = CallEventSource(store, url=url)
    sender = EventSender(store, http, url=url, secret=SECRET, max_attempts=5, backoff_s=0.05)
    archiver = Archiver(
        store, history, record_ttl_s=600, retention_days=90, on_archived=source.on_archived
    )
    return Events(source, sender, archiver, receiver)


def inbound_record(call_id: str, **more: object) -> CallRecord:
    now = time.time()
    fields = {
        "call_id": call_id,
        "persona": "demo",
        "direction": "inbound",
        "room": "call-_+14155550123_abc",
        "caller_number": "+14155550123",
        "called_number": "+14155550100",
        "started_at": now - 30,
        "answered_at": now - 29,
        "ended_at": now,
        "outcome": "caller_hung_up",
        "transcript": [
            {"role": "agent", "text": "Hello, how can I help?", "at": now - 28},
            {"role": "caller", "text": "Tuesday please", "at": now - 20},
        ],
        "turns": [
            {"at": now - 19, "end_of_turn_s": 0.2, "stt_s": 0.3, "voice_to_voice_s": 0.9},
            {"at": now - 9, "end_of_turn_s": 0.4, "stt_s": 0.1, "voice_to_voice_s": 1.3},
        ],
        "summary": "The caller booked Tuesday.",
        "extracted": {"day": "Tuesday"},
    }
    return CallRecord.model_validate({**fields, **more})


async def test_an_inbound_call_starts_then_ends_with_the_whole_call_signed(
    store: Redis, events: Events, history: HistoryStore
) -> None:
    caller = CallerLeg({live_calls.TRUNK_ATTRIBUTE: TRUNK})
    await live_calls.begin(store, Answered("in-ev-1"), caller)  # type: ignore[arg-type]
    recording = RecordingRef(key="in-ev-1.ogg", duration_s=30.0, size_bytes=48000)
    await save_call_record(store, inbound_record("in-ev-1", recording=recording))

    await events.until(lambda: len(events.receiver.received) == 2)

    started, ended = events.bodies()
    assert events.receiver.ids() == ["in-ev-1:started", "in-ev-1:ended"]
    assert all(verifies(d, SECRET) for d in events.receiver.received)
    assert not verifies(events.receiver.received[1], "another-secret")
    assert started["type"] == "call.started" and started["direction"] == "inbound"
    assert started["trunk"] == TRUNK and started["persona"] == "demo"
    assert ended["type"] == "call.ended" and ended["event_id"] == "in-ev-1:ended"
    assert ended["outcome"] == "caller_hung_up" and ended["trunk"] == TRUNK
    assert [line["text"] for line in ended["transcript"]] == [  # type: ignore[union-attr]
        "Hello, how can I help?",
        "Tuesday please",
    ]
    assert ended["summary"] == "The caller booked Tuesday."
    assert ended["extracted"] == {"day": "Tuesday"}
    latency = ended["latency"]
    assert isinstance(latency, dict) and latency["turns"] == 2
    assert latency["stages"]["voice_to_voice_s"]["max_s"] == 1.3
    assert "llm_ttft_s" not in latency["stages"]  # not measured: left out
    assert ended["recording_url"] == "/api/calls/in-ev-1/recording"
    assert await history.get("in-ev-1") is not None
    assert await live_calls.live_calls(store) == []  # off the live list once archived


async def test_the_stage_latency_of_an_archived_call_is_observed_once(
    store: Redis, events: Events
) -> None:
    await live_calls.begin(store, Answered("in-ev-2"), CallerLeg({"sip.trunkID": TRUNK}))  # type: ignore[arg-type]
    await save_call_record(store, inbound_record("in-ev-2"))
    await events.until(lambda: len(events.receiver.received) == 2)
    await events.source.on_archived(await _archived(events, "in-ev-2"))  # archived again

    found = await metrics.histograms(store, metrics.STAGE_LATENCY_KEY, metrics.STAGE_BUCKETS)
    voice = found[("voice_to_voice", "demo", TRUNK)]
    assert voice.count == 2 and voice.total == pytest.approx(2.2)
    assert found[("stt", "demo", TRUNK)].count == 2
    assert ("llm_first_token", "demo", TRUNK) not in found
    assert events.receiver.ids() == ["in-ev-2:started", "in-ev-2:ended"]  # not queued again


async def test_a_call_without_a_record_of_its_recording_has_none(
    store: Redis, events: Events
) -> None:
    await save_call_record(store, inbound_record("in-ev-3", outcome="lines_busy", turns=[]))
    await events.until(lambda: len(events.receiver.received) == 1)
    (ended,) = events.bodies()
    assert ended["type"] == "call.ended" and ended["outcome"] == "lines_busy"
    assert ended["recording_url"] is None and ended["latency"] is None


async def test_a_failing_receiver_gets_the_same_event_again_and_the_failure_is_counted(
    store: Redis, events: Events
) -> None:
    events.receiver.answers = [500, 503]
    await live_calls.begin(store, Answered("in-ev-4"), None)  # type: ignore[arg-type]

    await events.until(lambda: len(events.receiver.received) == 3)

    assert events.receiver.ids() == ["in-ev-4:started"] * 3
    first, _, last = events.receiver.received
    assert first.body == last.body and verifies(last, SECRET)
    failures = await metrics.counts(store, metrics.WEBHOOK_FAILURES_KEY)
    assert failures == {(WEBHOOK_URL, "retried"): 2}


async def test_an_event_given_up_is_counted_and_the_calls_end_follows(
    store: Redis, events: Events
) -> None:
    events.sender.max_attempts = 2
    events.receiver.answers = [500, 500]
    await live_calls.begin(store, Answered("in-ev-5"), None)  # type: ignore[arg-type]
    await events.until(lambda: len(events.receiver.received) == 2)
    await save_call_record(store, inbound_record("in-ev-5"))

    await events.until(lambda: len(events.receiver.received) == 3)

    assert events.receiver.ids() == ["in-ev-5:started"] * 2 + ["in-ev-5:ended"]
    failures = await metrics.counts(store, metrics.WEBHOOK_FAILURES_KEY)
    assert failures == {(WEBHOOK_URL, "retried"): 1, (WEBHOOK_URL, "given_up"): 1}
    logged = {t.event: t for t in await delivery_log.tries(store, "in-ev-5")}
    started, ended = logged["call.started"], logged["call.ended"]
    assert (started.state, started.attempts, started.answer) == ("given_up", 2, "HTTP 500")
    assert (ended.state, ended.attempts, ended.answer) == ("done", 1, "HTTP 200")
    assert started.target == "webhook_url" and "/hook" not in started.host


async def test_a_calls_end_waits_for_its_start_in_flight_then_follows_at_once(
    store: Redis, events: Events
) -> None:
    events.receiver.hold["/hook"] = gate = asyncio.Event()
    await live_calls.begin(store, Answered("in-ev-6"), None)  # type: ignore[arg-type]
    await events.source.step()
    await events.sender.deliver_due()  # call.started is in flight, held by the receiver
    await save_call_record(store, inbound_record("in-ev-6"))
    for _ in range(5):
        await events.archiver.archive()
        await events.sender.deliver_due()  # call.ended is due, and must wait
        await asyncio.sleep(0.05)
    gate.set()

    await events.until(lambda: len(events.receiver.received) == 2, within_s=5)
    assert events.receiver.ids() == ["in-ev-6:started", "in-ev-6:ended"]


async def test_a_campaigns_callback_url_receives_its_calls_statuses(
    store: Redis, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    spec = CampaignSpec.model_validate(
        {
            "persona": "demo",
            "callback_url": f"{receiver.base_url}/campaign",
            "callees": [{"to_number": "+14155550101"}],
        }
    )
    campaign = (await create(store, spec)).campaign
    assert campaign.callback_url == f"{receiver.base_url}/campaign"
    await feed_campaigns(store)
    calls_key = CALL_IDS_KEY.format(campaign_id=campaign.campaign_id)
    (call_id,) = await store.lrange(calls_key, 0, -1)
    ended = (CallStatus.DIALING, CallStatus.ANSWERED, CallStatus.COMPLETED)
    await walk(store, call_id, *ended, attempt=1)
    await webhooks.wake(store, call_id)
    sender = WebhookSender(store, http, secret=SECRET, max_attempts=3, backoff_s=0.05)

    deadline = time.monotonic() + 15
    while len(receiver.ids("/campaign")) < 4:
        assert time.monotonic() < deadline, "the campaign's webhooks did not come"
        await sender.deliver_due()
        await asyncio.sleep(0.02)
    await sender.drain()

    statuses = [json.loads(d.body)["status"] for d in receiver.received]
    assert statuses == ["queued", "dialing", "answered", "completed"]
    assert receiver.ids("/campaign") == [f"{call_id}:{n}" for n in range(1, 5)]
    assert all(verifies(d, SECRET) for d in receiver.received)


async def _archived(events: Events, call_id: str) -> ArchivedCall:
    found = await events.archiver.history.get(call_id)
    assert found is not None
    return found


def test_the_api_takes_a_campaigns_callback_url_checked_like_a_calls(redis_url: str) -> None:
    rows = [{"to_number": "+14155550101"}]
    with make_client(redis_url) as client:

        def post(url: str) -> httpx.Response:
            body = {"persona": "demo", "callees": rows, "callback_url": url}
            return client.post("/api/campaigns", json=body, headers=AUTH)

        accepted = post("https://hooks.example.com/dialroom")
        assert accepted.status_code == 201, accepted.text
        detail = client.get(f"/api/campaigns/{accepted.json()['campaign_id']}", headers=AUTH)
        assert detail.json()["callback_url"] == "https://hooks.example.com/dialroom"
        for url, kind in (
            ("ftp://hooks.example.com/x", "url"),
            ("http://127.0.0.1:9/x", "callback_refused"),
        ):
            refused = post(url)
            assert refused.status_code == 422, refused.text
            (error,) = refused.json()["detail"]
            assert error["loc"] == ["body", "callback_url"] and error["type"] == kind
        csv = post_csv(
            client,
            "to_number\n+14155550102\n",
            {"persona": "demo", "callback_url": "http://10.1.2.3/x"},
        )
        assert csv.status_code == 422 and csv.json()["detail"][0]["loc"] == [
            "query",
            "callback_url",
        ]


async def test_a_running_dispatcher_sends_both_events_of_a_call(
    store: Redis, redis_url: str, history: HistoryStore, receiver: Receiver
) -> None:
    settings = DispatcherSettings(
        redis_url=redis_url,
        livekit_url="ws://127.0.0.1:9",  # nothing to dispatch: LiveKit is never needed
        livekit_api_key="devkey",
        livekit_api_secret="x" * 32,
        dialroom_dev=True,  # the receiver is on loopback
        webhook_url=f"{receiver.base_url}/hook",
        webhook_secret=SECRET,
        poll_interval_s=0.05,
    )
    source = CallEventSource(store, url=settings.webhook_url)
    archiver = Archiver(
        store, history, record_ttl_s=600, retention_days=90, on_archived=source.on_archived
    )
    dispatcher = Dispatcher(settings, redis=store, archiver=archiver)
    task = asyncio.create_task(dispatcher.run())
    try:
        await live_calls.begin(store, Answered("in-ev-9"), None)  # type: ignore[arg-type]
        await eventually(lambda: _received(receiver, 1))
        await save_call_record(store, inbound_record("in-ev-9"))
        await eventually(lambda: _received(receiver, 2))
    finally:
        dispatcher.stop()
        await asyncio.wait([task], timeout=10)
    assert receiver.ids() == ["in-ev-9:started", "in-ev-9:ended"]
    assert all(verifies(d, SECRET) for d in receiver.received)


async def _received(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count
