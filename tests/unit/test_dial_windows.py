"""The windows a dial is held to: the persona's and the campaign's calling hours together, in
the callee's zone (`dispatcher.rules.closed_now`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialroom.persona import CallingHours
from dispatcher.rules import closed_now

pytestmark = pytest.mark.unit

LOS_ANGELES_NUMBER = "+14155550123"
OFFICE = CallingHours()  # mon-fri 09:00-18:00
AFTERNOONS = CallingHours(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start="14:00")
WEEKENDS = CallingHours(days=["sat", "sun"])


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_open_when_every_window_is_open() -> None:
    wednesday_3pm = utc("2030-01-16T23:00:00")  # Los Angeles, UTC-8
    assert closed_now((OFFICE, AFTERNOONS), LOS_ANGELES_NUMBER, wednesday_3pm) is None


def test_one_window_closed_waits_for_the_moment_both_are_open() -> None:
    wednesday_10am = utc("2030-01-16T18:00:00")
    closed = closed_now((OFFICE, AFTERNOONS), LOS_ANGELES_NUMBER, wednesday_10am)
    assert closed is not None and closed.opens_at == utc("2030-01-16T22:00:00")  # 14:00 local
    assert "mon,tue,wed,thu,fri 09:00-18:00 and" in closed.why


def test_after_the_day_s_overlap_waits_for_the_next_day_s() -> None:
    wednesday_7pm = utc("2030-01-17T03:00:00")
    closed = closed_now((OFFICE, AFTERNOONS), LOS_ANGELES_NUMBER, wednesday_7pm)
    assert closed is not None and closed.opens_at == utc("2030-01-17T22:00:00")


def test_windows_that_never_meet_leave_no_safe_time() -> None:
    closed = closed_now((OFFICE, WEEKENDS), LOS_ANGELES_NUMBER, utc("2030-01-16T18:00:00"))
    assert closed is not None and closed.opens_at is None
    assert "never open together" in closed.why


def test_no_window_means_any_time() -> None:
    assert closed_now((), LOS_ANGELES_NUMBER, utc("2030-01-16T10:00:00")) is None
