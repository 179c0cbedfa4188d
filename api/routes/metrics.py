"""Prometheus metrics, read from Redis at scrape time so they cover every Dialroom process.

`Snapshot` is what one scrape reads; `SnapshotCollector` turns it into metric families. Every
family is yielded even when it has no sample yet, so the names a dashboard queries
(`deploy/grafana/dialroom.json`) are always declared, and a test checks them against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from redis.asyncio import Redis

from api.deps import RedisDep
from dialroom import dial_queue, live_calls, metrics
from dialroom.call_status import CallStatus

router = APIRouter(tags=["metrics"])

Labelled = dict[metrics.Labels, metrics.Histogram]
EMPTY = metrics.Histogram(buckets=[(float("inf"), 0)], total=0.0, count=0)


@dataclass(frozen=True)
class Snapshot:
    counts: dict[str, int] = field(default_factory=dict)  # status -> times entered
    depth: dict[str, int] = field(default_factory=dict)  # queue -> calls waiting
    dial_latency: metrics.Histogram = EMPTY
    live: dict[tuple[str, str], int] = field(default_factory=dict)  # (persona, direction)
    stage_latency: Labelled = field(default_factory=dict)  # (stage, persona, trunk)
    queue_wait: Labelled = field(default_factory=dict)  # (source,)
    provider_errors: dict[metrics.Labels, int] = field(default_factory=dict)
    webhook_failures: dict[metrics.Labels, int] = field(default_factory=dict)


async def read_snapshot(redis: Redis) -> Snapshot:
    live: dict[tuple[str, str], int] = {}
    for call in await live_calls.live_calls(redis):
        key = (call.persona, call.direction)
        live[key] = live.get(key, 0) + 1
    return Snapshot(
        counts=await metrics.status_counts(redis),
        depth=await dial_queue.queue_depth(redis),
        dial_latency=await metrics.dial_latency(redis),
        live=live,
        stage_latency=await metrics.histograms(
            redis, metrics.STAGE_LATENCY_KEY, metrics.STAGE_BUCKETS
        ),
        queue_wait=await metrics.histograms(
            redis, metrics.QUEUE_WAIT_KEY, metrics.QUEUE_WAIT_BUCKETS
        ),
        provider_errors=await metrics.counts(redis, metrics.PROVIDER_ERRORS_KEY),
        webhook_failures=await metrics.counts(redis, metrics.WEBHOOK_FAILURES_KEY),
    )


class SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        now = self.snapshot
        calls = CounterMetricFamily(
            "dialroom_calls", "Times a call entered each status", labels=["status"]
        )
        for status in CallStatus:
            calls.add_metric([status.value], now.counts.get(status.value, 0))
        yield calls
        depth = GaugeMetricFamily(
            "dialroom_queue_depth", "Calls waiting to be dispatched", labels=["queue"]
        )
        for queue, size in now.depth.items():
            depth.add_metric([queue], size)
        yield depth
        yield HistogramMetricFamily(
            "dialroom_dial_latency_seconds",
            "Seconds from a call being due to its agent dispatch",
            buckets=_buckets(now.dial_latency),
            sum_value=now.dial_latency.total,
        )
        live = GaugeMetricFamily(
            "dialroom_live_calls",
            "Calls in conversation now, by persona and direction",
            labels=["persona", "direction"],
        )
        for (persona, direction), size in sorted(now.live.items()):
            live.add_metric([persona, direction], size)
        yield live
        yield _histograms(
            "dialroom_stage_latency_seconds",
            "Agent reply latency per stage (end_of_turn, stt, llm_first_token, "
            "tts_first_audio, voice_to_voice), by persona and trunk; observed per finished call",
            ["stage", "persona", "trunk"],
            now.stage_latency,
        )
        yield _histograms(
            "dialroom_queue_wait_seconds",
            "Seconds from a call's enqueue (or due time) to its dispatch, by source",
            ["source"],
            now.queue_wait,
        )
        yield _counters(
            "dialroom_provider_errors",
            "Errors reported by STT/LLM/TTS providers",
            ["provider", "kind", "recoverable"],
            now.provider_errors,
        )
        yield _counters(
            "dialroom_webhook_failures",
            "Failed webhook tries (result=retried) and webhooks given up (result=given_up), "
            "per target (callback_url, webhook_url)",
            ["target", "result"],
            now.webhook_failures,
        )


def _buckets(histogram: metrics.Histogram) -> list[tuple[str, float]]:
    return [(floatToGoString(bound), count) for bound, count in histogram.buckets]


def _histograms(name: str, doc: str, labels: list[str], found: Labelled) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for values, histogram in sorted(found.items()):
        if len(values) == len(labels):  # a field written under other labels is left out
            family.add_metric(list(values), _buckets(histogram), histogram.total)
    return family


def _counters(
    name: str, doc: str, labels: list[str], found: dict[metrics.Labels, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, total in sorted(found.items()):
        if len(values) == len(labels):
            family.add_metric(list(values), total)
    return family


def exposition(snapshot: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return generate_latest(registry)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
    include_in_schema=False,
)
async def prometheus_metrics(redis: RedisDep) -> Response:
    return Response(exposition(await read_snapshot(redis)), media_type=CONTENT_TYPE_LATEST)
