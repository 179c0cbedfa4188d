"""/metrics against a real Redis: live calls by persona and direction, reply latency per stage
by persona and trunk, provider errors by provider and kind (from a real AgentSession's `error`
event), webhook failures and queue wait, each written where the stack writes it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest
from livekit.agents import AgentSession, ErrorEvent
from livekit.agents.llm import LLMError
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from dialroom import dial_queue, live_calls, metrics, provider_errors
from dialroom.campaign_intake import create
from dialroom.campaigns import CALL_IDS_KEY, CampaignSpec
from dialroom.dial import OutboundCall
from dialroom.history import ArchivedCall
from dispatcher import call_metrics
from dispatcher.event_delivery import WEBHOOK_URL
from dispatcher.webhooks import CALLBACK_URL, count_failure
from tests.support.api_client import make_client
from tests.support.timed_providers import SentencesLLM

pytestmark = pytest.mark.integration


@dataclass
class Answered:
    call_id: str
    persona: str
    direction: str
    room: str
    answered_at: float | None = None


@dataclass
class CallerLeg:
    attributes: dict[str, str]


def samples(redis_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with make_client(redis_url) as client:
        text = client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_live_calls_are_counted_by_persona_and_direction(
    store: Redis, redis_url: str
) -> None:
    for n, (persona, direction) in enumerate(
        [("demo", "inbound"), ("demo", "inbound"), ("reminder", "outbound")]
    ):
        state = Answered(f"live-{n}", persona, direction, f"call-live-{n}")
        await live_calls.begin(store, state, CallerLeg({}))  # type: ignore[arg-type]
    old = Answered("gone", "demo", "outbound", "call-gone", answered_at=time.time() - 60)
    await live_calls.begin(store, old, None)  # type: ignore[arg-type]  # no worker serves it

    found = await asyncio.to_thread(samples, redis_url)

    live = "dialroom_live_calls"
    assert found[(live, (("direction", "inbound"), ("persona", "demo")))] == 2
    assert found[(live, (("direction", "outbound"), ("persona", "reminder")))] == 1
    assert await live_calls.orphans(store) == ["gone"]


async def test_stage_latency_provider_errors_failures_and_queue_wait_are_exposed(
    store: Redis, redis_url: str
) -> None:
    call = ArchivedCall.model_validate(
        {
            "call_id": "m-1",
            "direction": "inbound",
            "persona": "demo",
            "outcome": "caller_hung_up",
            "started_at": 1.0,
            "ended_at": 9.0,
            "record": {
                "call_id": "m-1",
                "persona": "demo",
                "direction": "inbound",
                "room": "r",
                "started_at": 1.0,
                "ended_at": 9.0,
                "outcome": "caller_hung_up",
                "turns": [{"at": 5.0, "llm_ttft_s": 0.25, "tts_ttfb_s": 0.12}],
            },
        }
    )
    assert await call_metrics.observe_archived(store, call, trunk="ST_a")
    session: AgentSession = AgentSession()
    provider_errors.watch(session, store)
    failing = SentencesLLM([], pause_s=0)
    error = LLMError(timestamp=0, label="x", error=RuntimeError("429"), recoverable=True)
    session.emit("error", ErrorEvent(error=error, source=failing))
    await asyncio.gather(*provider_errors._pending)
    await count_failure(store, CALLBACK_URL, given_up=False)
    await count_failure(store, WEBHOOK_URL, given_up=True)
    single = await dial_queue.enqueue(store, OutboundCall(to_number="+14155550123", persona="demo"))
    request = await dial_queue.load_request(store, single.call_id)
    assert request is not None
    await call_metrics.observe_queue_wait(store, request, due_at=time.time() - 2)

    found = await asyncio.to_thread(samples, redis_url)

    llm = (("le", "0.3"), ("persona", "demo"), ("stage", "llm_first_token"), ("trunk", "ST_a"))
    assert found[("dialroom_stage_latency_seconds_bucket", llm)] == 1
    tts = (("persona", "demo"), ("stage", "tts_first_audio"), ("trunk", "ST_a"))
    assert found[("dialroom_stage_latency_seconds_sum", tts)] == pytest.approx(0.12)
    errors = (("kind", "llm"), ("provider", "test"), ("recoverable", "true"))
    assert found[("dialroom_provider_errors_total", errors)] == 1
    failures = "dialroom_webhook_failures_total"
    assert found[(failures, (("result", "retried"), ("target", "callback_url")))] == 1
    assert found[(failures, (("result", "given_up"), ("target", "webhook_url")))] == 1
    waited = found[("dialroom_queue_wait_seconds_sum", (("source", "api"),))]
    assert 2 <= waited < 10


async def test_a_campaign_calls_queue_wait_counts_from_the_campaigns_creation(
    store: Redis,
) -> None:
    spec = CampaignSpec.model_validate(
        {"persona": "demo", "callees": [{"to_number": "+14155550101"}]}
    )
    campaign = (await create(store, spec)).campaign
    (call_id,) = await store.lrange(CALL_IDS_KEY.format(campaign_id=campaign.campaign_id), 0, -1)
    request = await dial_queue.load_request(store, call_id)
    assert request is not None
    await store.hset(f"dialroom:campaign:{campaign.campaign_id}", "created_at", time.time() - 30)

    await call_metrics.observe_queue_wait(store, request, due_at=time.time())

    found = await metrics.histograms(store, metrics.QUEUE_WAIT_KEY, metrics.QUEUE_WAIT_BUCKETS)
    assert 30 <= found[("campaign",)].total < 40
