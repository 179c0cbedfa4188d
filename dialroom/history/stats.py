"""Counting the history: calls by outcome and reply latency percentiles, per hour or day.

The database hands over two narrow columns per call and per reply; the buckets and the
percentiles are worked out here, the same way on SQLite and PostgreSQL (SQLite has no
percentile function).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable

from dialroom.history.call import Bucket, LatencyStat, OutcomeCount, Stats

SECONDS = {"hour": 3600, "day": 86400}


def bucket_start(at: float, bucket: Bucket) -> float:
    """The first second (UTC) of the hour or day `at` falls in."""
    size = SECONDS[bucket]
    return float(math.floor(at / size) * size)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted `values` (a value that was measured)."""
    rank = max(1, math.ceil(fraction * len(values)))
    return values[rank - 1]


def summarize(
    outcomes: Iterable[tuple[float, str]],
    replies: Iterable[tuple[float, str, float]],
    *,
    bucket: Bucket,
) -> Stats:
    counts = Counter((bucket_start(at, bucket), outcome) for at, outcome in outcomes)
    times: defaultdict[tuple[float, str], list[float]] = defaultdict(list)
    for at, persona, seconds in replies:
        times[(bucket_start(at, bucket), persona)].append(seconds)
    return Stats(
        bucket=bucket,
        outcomes=[
            OutcomeCount(start=start, outcome=outcome, calls=n)
            for (start, outcome), n in sorted(counts.items())
        ],
        voice_to_voice=[
            _latency(start, persona, values) for (start, persona), values in sorted(times.items())
        ],
    )


def _latency(start: float, persona: str, values: list[float]) -> LatencyStat:
    values.sort()
    return LatencyStat(
        start=start,
        persona=persona,
        turns=len(values),
        p50_s=percentile(values, 0.50),
        p95_s=percentile(values, 0.95),
    )
