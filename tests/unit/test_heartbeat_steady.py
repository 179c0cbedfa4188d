"""When a worker may reap others (`worker.heartbeat.Steady`): only after a whole lease of
heartbeats that reached Redis without a gap, so an outage that every worker lived through
makes nobody look dead."""

from __future__ import annotations

from worker.heartbeat import Steady


def test_no_reaping_before_a_whole_lease_of_heartbeats() -> None:
    steady = Steady(lease_s=8, max_gap_s=2)
    assert [steady.beat(t * 0.5) for t in range(17)] == [False] * 16 + [True]


def test_a_gap_starts_the_lease_over() -> None:
    steady = Steady(lease_s=8, max_gap_s=2)
    assert [steady.beat(t * 0.5) for t in range(21)][-1] is True  # steady from 8 s on
    # 30 s without Redis: back, but sure of nobody until a whole lease has passed again
    after = [steady.beat(40.0 + t * 0.5) for t in range(17)]
    assert after == [False] * 16 + [True]


def test_heartbeats_a_little_late_are_no_gap() -> None:
    steady = Steady(lease_s=8, max_gap_s=2)
    beats = [t * 1.9 for t in range(6)]  # every 1.9 s: slow, never out of touch
    assert [steady.beat(t) for t in beats] == [False] * 5 + [True]
