"""Counting the history: calls by outcome and reply latency percentiles, per hour or day.

The database hands over two narrow columns per call and per reply; the buckets and the
percentiles are worked out here, the same way on SQLite and PostgreSQL (SQLite has no
percentile function).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from dialroom.history.call import Bucket, LatencyStat, OutcomeCount, Stats, TrunkLatencyStat

SECONDS = {"hour": 3600, "day": 86400}
NO_TRUNK = "-"  # the trunk of calls no SIP trunk carried (a browser call, a record without one)


class Reply(NamedTuple):
    """One measured agent reply, with what it is grouped by."""

    at: float
    persona: str
    trunk: str | None
    seconds: float


def bucket_start(at: float, bucket: Bucket) -> float:
    """The first second (UTC) of the hour or day `at` falls in."""
    size = SECONDS[bucket]
    return float(math.floor(at / size) * size)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted `values` (a value that was measured)."""
    rank = max(1, math.ceil(fraction * len(values)))
    return values[rank - 1]


def summarize(
    outcomes: Iterable[tuple[float, str]], replies: Iterable[Reply], *, bucket: Bucket
) -> Stats:
    counts = Counter((bucket_start(at, bucket), outcome) for at, outcome in outcomes)
    by_persona: defaultdict[tuple[float, str], list[float]] = defaultdict(list)
    by_trunk: defaultdict[tuple[float, str], list[float]] = defaultdict(list)
    for reply in replies:
        start = bucket_start(reply.at, bucket)
        by_persona[(start, reply.persona)].append(reply.seconds)
        by_trunk[(start, reply.trunk or NO_TRUNK)].append(reply.seconds)
    return Stats(
        bucket=bucket,
        outcomes=[
            OutcomeCount(start=start, outcome=outcome, calls=n)
            for (start, outcome), n in sorted(counts.items())
        ],
        voice_to_voice=[
            LatencyStat(start=start, persona=persona, **_percentiles(values))
            for (start, persona), values in sorted(by_persona.items())
        ],
        voice_to_voice_by_trunk=[
            TrunkLatencyStat(start=start, trunk=trunk, **_percentiles(values))
            for (start, trunk), values in sorted(by_trunk.items())
        ],
    )


def _percentiles(values: list[float]) -> dict[str, float | int]:
    values.sort()
    return {
        "turns": len(values),
        "p50_s": percentile(values, 0.50),
        "p95_s": percentile(values, 0.95),
    }
