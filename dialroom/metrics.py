"""Counters every process adds to in Redis, so the API's /metrics speaks for the whole stack.

Why Redis and not each process's own registry: the dispatcher, the workers' call processes and
the API are many short- and long-lived processes on several hosts, and one scrape of the API
should see them all. Each metric is one hash; a histogram keeps its buckets' counts, sum and
count per label set, and `/metrics` (`api.routes.metrics`) reads the hashes at scrape time.

- calls by status: counted by `call_status` as each status is entered;
- dial latency (due -> agent dispatch) and queue wait (enqueued -> dispatch): the dispatcher;
- per-stage reply latency by persona and trunk: observed once per call when it is archived;
- provider errors by provider and kind: the worker, as its session reports them;
- webhook failures: the dispatcher, per failed try and per event given up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from dialroom.call_status import STATUS_COUNTS_KEY

DIAL_LATENCY_KEY = "dialroom:metrics:dial_latency"  # hash: bucket bound / sum / count
DIAL_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
QUEUE_WAIT_KEY = "dialroom:metrics:queue_wait"  # labels: source (api | campaign)
QUEUE_WAIT_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)
STAGE_LATENCY_KEY = "dialroom:metrics:stage_latency"  # labels: stage, persona, trunk
STAGE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
PROVIDER_ERRORS_KEY = "dialroom:metrics:provider_errors"  # provider, kind, recoverable -> n
WEBHOOK_FAILURES_KEY = "dialroom:metrics:webhook_failures"  # target, result -> n
SEP = "\x1f"  # joins label values in a hash field; no label value contains it

Labels = tuple[str, ...]


@dataclass(frozen=True)
class Histogram:
    buckets: list[tuple[float, int]]  # (upper bound, cumulative count), +Inf last
    total: float
    count: int


async def observe_dial_latency(redis: Redis, seconds: float) -> None:
    bound = _bound(seconds, DIAL_LATENCY_BUCKETS)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(DIAL_LATENCY_KEY, repr(bound), 1)
        pipe.hincrbyfloat(DIAL_LATENCY_KEY, "sum", seconds)
        pipe.hincrby(DIAL_LATENCY_KEY, "count", 1)
        await pipe.execute()


async def status_counts(redis: Redis) -> dict[str, int]:
    raw = await redis.hgetall(STATUS_COUNTS_KEY)
    return {_text(k): int(v) for k, v in raw.items()}


async def dial_latency(redis: Redis) -> Histogram:
    raw = {_text(k): _text(v) for k, v in (await redis.hgetall(DIAL_LATENCY_KEY)).items()}
    running = 0
    buckets = []
    for bound in (*DIAL_LATENCY_BUCKETS, float("inf")):
        running += int(raw.get(repr(bound), 0))
        buckets.append((bound, running))
    return Histogram(buckets=buckets, total=float(raw.get("sum", 0)), count=running)


# Labelled histograms and counters: one hash each, a field per label set (and bucket).


async def observe(
    redis: Redis,
    key: str,
    labels: Labels,
    values: Sequence[float],
    buckets: Sequence[float],
) -> None:
    """Add `values` to the histogram `key` for `labels`, in one round trip."""
    if not values:
        return
    prefix = SEP.join(labels)
    async with redis.pipeline(transaction=True) as pipe:
        for value in values:
            pipe.hincrby(key, f"{prefix}{SEP}{_bound(value, buckets)!r}", 1)
        pipe.hincrbyfloat(key, f"{prefix}{SEP}sum", sum(values))
        await pipe.execute()


async def histograms(redis: Redis, key: str, buckets: Sequence[float]) -> dict[Labels, Histogram]:
    """Every label set's histogram of `key`."""
    counts: defaultdict[Labels, dict[str, str]] = defaultdict(dict)
    for field, value in (await redis.hgetall(key)).items():
        *labels, last = _text(field).split(SEP)
        counts[tuple(labels)][last] = _text(value)
    found = {}
    for labels, raw in counts.items():
        running, cumulative = 0, []
        for bound in (*buckets, float("inf")):
            running += int(raw.get(repr(bound), 0))
            cumulative.append((bound, running))
        found[labels] = Histogram(cumulative, float(raw.get("sum", 0)), running)
    return found


async def count(redis: Redis, key: str, labels: Labels, by: int = 1) -> None:
    await redis.hincrby(key, SEP.join(labels), by)


async def counts(redis: Redis, key: str) -> dict[Labels, int]:
    raw = await redis.hgetall(key)
    return {tuple(_text(k).split(SEP)): int(v) for k, v in raw.items()}


def _bound(value: float, buckets: Sequence[float]) -> float:
    return next((b for b in buckets if value <= b), float("inf"))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
