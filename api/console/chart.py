"""Voice-to-voice p50 / p95 per persona over time, as the geometry of an inline SVG chart.

`GET /api/stats` gives one point per persona and hour (or day); this lays them out on one
shared time axis and one latency axis: a solid line for p50, a dashed one for p95, one colour
per persona. The template only draws what is computed here, so the chart needs no script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from dialroom.history.call import LatencyStat

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 44, 16, 40
COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7480")


@dataclass(frozen=True)
class Series:
    persona: str
    colour: str
    p50: str  # SVG polyline points
    p95: str
    points: list[tuple[float, float, float, float]]  # x, y50, y95, turns (for dots)


@dataclass(frozen=True)
class Tick:
    at: float  # pixel position
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    series: list[Series]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    plot: tuple[int, int, int, int]  # left, top, right, bottom edges


def latency_chart(
    stats: list[LatencyStat], *, bucket_s: float, span: tuple[float, float]
) -> Chart | None:
    """The chart over `span` (first, last second), the time axis the same whatever was
    measured; None when no reply was measured in it."""
    if not stats:
        return None
    first, last = span[0], max(span[1], span[0] + bucket_s)
    top = _nice_ceiling(max(s.p95_s for s in stats))
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM

    def x(at: float) -> float:
        return round(LEFT + (right - LEFT) * (at - first) / (last - first), 1)

    def y(seconds: float) -> float:
        return round(bottom - (bottom - TOP) * seconds / top, 1)

    series = []
    for n, persona in enumerate(sorted({s.persona for s in stats})):
        mine = sorted((s for s in stats if s.persona == persona), key=lambda s: s.start)
        points = [(x(s.start), y(s.p50_s), y(s.p95_s), float(s.turns)) for s in mine]
        series.append(
            Series(
                persona=persona,
                colour=COLOURS[n % len(COLOURS)],
                p50=" ".join(f"{px},{p50}" for px, p50, _, _ in points),
                p95=" ".join(f"{px},{p95}" for px, _, p95, _ in points),
                points=points,
            )
        )
    y_ticks = [Tick(at=y(top * i / 4), label=f"{top * i / 4:.2f} s") for i in range(5)]
    x_ticks = [Tick(at=x(at), label=_label(at, bucket_s)) for at in _spread(first, last, 5)]
    return Chart(WIDTH, HEIGHT, series, y_ticks, x_ticks, (LEFT, TOP, right, bottom))


def _nice_ceiling(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _spread(first: float, last: float, count: int) -> list[float]:
    """`count` moments evenly from `first` to `last`."""
    return [first + (last - first) * i / (count - 1) for i in range(count)]


def _label(at: float, bucket_s: float) -> str:
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%m-%d %H:%M" if bucket_s < 86400 else "%Y-%m-%d")
