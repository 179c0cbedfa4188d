"""`bench.history_cost`'s report: the on / off ratio per measure, and what each side archived."""

from __future__ import annotations

from bench.history_cost_report import Side, archived_line, merge, ratio_lines

FACTS = {"window_s": 60.0, "fed": 300.0, "waiting": 0.0, "lost": 0.0}


def test_ratio_lines_divide_on_by_off_at_p50_and_p95() -> None:
    on = Side("on", {"outbound_api POST": [0.02] * 19 + [0.06]}, FACTS)
    off = Side("off", {"outbound_api POST": [0.01] * 19 + [0.03]}, FACTS)
    assert ratio_lines(on, off) == ["ratio history on / off, outbound_api POST: p50 2.00, p95 2.00"]


def test_a_measure_without_numbers_on_one_side_says_so() -> None:
    on = Side("on", {"post_to_invite idle": [0.5]}, FACTS)
    off = Side("off", {"post_to_invite idle": []}, FACTS)
    assert ratio_lines(on, off) == [
        "ratio history on / off, post_to_invite idle: no numbers on one side"
    ]


def test_archived_line_says_what_reached_the_history_and_the_cpu_share() -> None:
    facts = {**FACTS, "history_rows": 296.0, "waiting": 4.0, "dispatcher_cpu_s": 15.0}
    line = archived_line(Side("on", {}, facts))
    assert "296 calls in the history, 4 waiting in Redis" in line
    assert "dispatcher 25% of a core" in line


def test_merge_pools_the_numbers_of_each_side_and_adds_up_their_facts() -> None:
    first, second = Side("on", {"m": [1.0]}, FACTS), Side("on", {"m": [2.0]}, FACTS)
    (merged,) = merge([first, second])
    assert merged.results == {"m": [1.0, 2.0]}
    assert merged.facts["fed"] == 600.0
    assert first.results == {"m": [1.0]}  # the stacks' own numbers are left alone
