"""`bench.post_to_invite` reads the dispatcher's own parts of each call from its log line (the
dispatcher's own format, `DISPATCHED_LOG`)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bench import post_to_invite
from bench.post_to_invite import Timing, dispatch_parts, report
from dispatcher.entries import DISPATCHED_LOG

PREFIX = "2026-12-06 20:19:01,120 INFO dialroom.dispatcher "
LOG = "\n".join(
    [
        PREFIX + DISPATCHED_LOG % ("6ec98", 1, "+1415***9999", 18.2, 34),
        PREFIX + "call 6ec98 finished: busy after 1 attempt(s)",
        PREFIX + DISPATCHED_LOG % ("e3097", 2, "+1415***0000", 1250, 7.4),
        PREFIX + "call 7e040 was already dispatched; not again",
    ]
)


def test_each_dispatched_calls_parts_are_read_in_seconds() -> None:
    assert dispatch_parts(LOG) == {
        "6ec98": {"queue": 0.018, "to_invite": 0.034},
        "e3097": {"queue": 1.25, "to_invite": 0.007},
    }


def test_the_report_prints_a_part_under_its_stage_for_the_calls_it_knows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(post_to_invite, "console", Console(file=out, width=200))
    timings: list[Timing | str] = [
        Timing("6ec98", post_to_invite=1.0, api=0.1, queue=0.3, to_invite=0.6),
        Timing("e3097", post_to_invite=2.0, api=0.1, queue=1.3, to_invite=0.6),
        Timing("unlogged", post_to_invite=3.0, api=0.1, queue=2.3, to_invite=0.6),
    ]
    report({"burst": timings}, settings={}, parts=dispatch_parts(LOG))
    rows = [line for line in out.getvalue().splitlines() if "│" in line]
    names = [row.split("│")[2].strip() for row in rows]
    assert names == ["post_to_invite", "api", "queue", "dispatcher", "to_invite", "LiveKit"]
    dispatcher = rows[3].split("│")
    assert dispatcher[3].strip() == "2", "two of the three calls have a dispatcher line"
    assert dispatcher[6].strip() == "0.02 s"  # min: 18 ms
    assert dispatcher[7].strip() == "1.25 s"  # max
