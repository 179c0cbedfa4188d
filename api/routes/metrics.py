"""Prometheus metrics, read from Redis at scrape time so they cover every Dialroom process."""

from __future__ import annotations

from collections.abc import Iterator

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

from api.deps import RedisDep
from dialroom import dial_queue, metrics
from dialroom.call_status import CallStatus

router = APIRouter(tags=["metrics"])


class _Snapshot(Collector):
    def __init__(
        self, counts: dict[str, int], depth: dict[str, int], latency: metrics.Histogram
    ) -> None:
        self.counts, self.depth, self.latency = counts, depth, latency

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(
            "dialroom_calls", "Times a call entered each status", labels=["status"]
        )
        for status in CallStatus:
            calls.add_metric([status.value], self.counts.get(status.value, 0))
        yield calls
        depth = GaugeMetricFamily(
            "dialroom_queue_depth", "Calls waiting to be dispatched", labels=["queue"]
        )
        for queue, size in self.depth.items():
            depth.add_metric([queue], size)
        yield depth
        yield HistogramMetricFamily(
            "dialroom_dial_latency_seconds",
            "Seconds from a call being due to its agent dispatch",
            buckets=[(floatToGoString(b), c) for b, c in self.latency.buckets],
            sum_value=self.latency.total,
        )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
    include_in_schema=False,
)
async def prometheus_metrics(redis: RedisDep) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        _Snapshot(
            await metrics.status_counts(redis),
            await dial_queue.queue_depth(redis),
            await metrics.dial_latency(redis),
        )
    )
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
