"""The latency chart: one line per persona and percentile, on shared axes."""

from __future__ import annotations

import pytest

from api.console.chart import HEIGHT, latency_chart
from dialroom.history.call import LatencyStat

pytestmark = pytest.mark.unit

HOUR = 3600.0


def _stat(start: float, persona: str, p50: float, p95: float) -> LatencyStat:
    return LatencyStat(start=start, persona=persona, turns=4, p50_s=p50, p95_s=p95)


def test_each_persona_gets_a_line_and_p95_is_drawn_above_p50() -> None:
    stats = [
        _stat(0.0, "demo", 0.8, 1.4),
        _stat(HOUR, "demo", 0.9, 1.6),
        _stat(HOUR, "sales", 1.2, 1.9),
    ]
    chart = latency_chart(stats, bucket_s=HOUR, span=(0.0, 4 * HOUR))
    assert chart is not None
    assert [s.persona for s in chart.series] == ["demo", "sales"]
    assert chart.series[0].colour != chart.series[1].colour
    demo = chart.series[0]
    assert len(demo.p50.split()) == 2
    for _x, y50, y95, _ in demo.points:
        assert y95 < y50  # SVG y grows downwards: a longer time is drawn higher
    xs = [p[0] for p in demo.points]
    assert xs == sorted(xs) and xs[0] < xs[1]


def test_the_axis_top_is_a_round_number_above_the_slowest_p95() -> None:
    chart = latency_chart([_stat(0.0, "demo", 0.8, 1.6)], bucket_s=HOUR, span=(0.0, HOUR))
    assert chart is not None
    assert chart.y_ticks[-1].label == "2.00 s"
    _, top, _, bottom = chart.plot
    assert chart.y_ticks[0].at == bottom and chart.y_ticks[-1].at == top
    assert all(0 <= t.at <= HEIGHT for t in chart.y_ticks)


def test_no_measured_reply_means_no_chart() -> None:
    assert latency_chart([], bucket_s=HOUR, span=(0.0, HOUR)) is None


def test_the_time_axis_is_the_whole_span_asked_for() -> None:
    chart = latency_chart([_stat(2 * HOUR, "demo", 0.8, 1.6)], bucket_s=HOUR, span=(0.0, 4 * HOUR))
    assert chart is not None
    left, _, right, _ = chart.plot
    [(x, _, _, _)] = chart.series[0].points
    assert x == pytest.approx(left + (right - left) / 2)
    assert [t.at for t in chart.x_ticks][0] == left and chart.x_ticks[-1].at == right
