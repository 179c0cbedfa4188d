"""Calling hours in the callee's time zone: weekdays, weekends, overnight windows, daylight
saving, numbers spanning several zones, and numbers with no known zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dialroom.calling_hours import callee_zones, next_opening
from dialroom.persona import CallingHours

pytestmark = pytest.mark.unit

OFFICE = CallingHours()  # mon-fri 09:00-18:00
LOS_ANGELES = ("America/Los_Angeles",)
NEW_YORK = ("America/New_York",)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_zones_come_from_the_number() -> None:
    assert callee_zones("+14155550123") == LOS_ANGELES
    assert callee_zones("+12125550123") == NEW_YORK
    assert callee_zones("+15551234567") == ()  # no zone known: not callable under hours
    assert callee_zones("not a number") == ()


def test_open_now_returns_now() -> None:
    now = utc("2030-01-16T20:00:00")  # Wednesday 12:00 in Los Angeles (UTC-8)
    assert next_opening(OFFICE, LOS_ANGELES, now) == now


def test_before_opening_waits_for_nine_local() -> None:
    now = utc("2030-01-16T15:00:00")  # Wednesday 07:00 in Los Angeles
    assert next_opening(OFFICE, LOS_ANGELES, now) == utc("2030-01-16T17:00:00")


def test_the_end_is_exclusive() -> None:
    now = utc("2030-01-17T02:00:00")  # Wednesday 18:00 sharp in Los Angeles: closed
    assert next_opening(OFFICE, LOS_ANGELES, now) == utc("2030-01-17T17:00:00")


def test_after_friday_closing_and_at_the_weekend_it_waits_for_monday() -> None:
    monday_nine = utc("2030-01-21T17:00:00")
    assert next_opening(OFFICE, LOS_ANGELES, utc("2030-01-19T03:00:00")) == monday_nine  # Fri 19:00
    assert next_opening(OFFICE, LOS_ANGELES, utc("2030-01-19T20:00:00")) == monday_nine  # Sat noon
    assert next_opening(OFFICE, LOS_ANGELES, utc("2030-01-21T07:00:00")) == monday_nine  # Sun 23:00


def test_a_weekend_only_window() -> None:
    weekend = CallingHours(days=("sat", "sun"), start="10:00", end="12:00")
    now = utc("2030-01-16T20:00:00")  # Wednesday
    assert next_opening(weekend, LOS_ANGELES, now) == utc("2030-01-19T18:00:00")  # Sat 10:00


def test_nine_local_follows_daylight_saving() -> None:
    # New York moved to summer time on Sunday 2024-03-10: 09:00 is 14:00 UTC on Friday the
    # 8th and 13:00 UTC on Monday the 11th.
    assert next_opening(OFFICE, NEW_YORK, utc("2024-03-08T12:00:00")) == utc("2024-03-08T14:00:00")
    assert next_opening(OFFICE, NEW_YORK, utc("2024-03-09T12:00:00")) == utc("2024-03-11T13:00:00")
    # ...and back to winter time on Sunday 2024-11-03.
    assert next_opening(OFFICE, NEW_YORK, utc("2024-11-02T12:00:00")) == utc("2024-11-04T14:00:00")


def test_a_start_skipped_by_the_clocks_counts_as_before_the_change() -> None:
    early = CallingHours(days=("sun",), start="02:30", end="05:00")
    # 02:30 does not exist in New York on 2024-03-10; PEP 495 reads it at the winter offset,
    # 07:30 UTC, which is 03:30 summer time.
    assert next_opening(early, NEW_YORK, utc("2024-03-10T05:00:00")) == utc("2024-03-10T07:30:00")


def test_an_overnight_window_runs_past_midnight_from_the_day_it_opens() -> None:
    night = CallingHours(days=("fri",), start="20:00", end="02:00")
    saturday_one = utc("2030-01-19T09:00:00")  # Saturday 01:00 in Los Angeles: still open
    assert next_opening(night, LOS_ANGELES, saturday_one) == saturday_one
    saturday_three = utc("2030-01-19T11:00:00")  # Saturday 03:00: closed until next Friday
    assert next_opening(night, LOS_ANGELES, saturday_three) == utc("2030-01-26T04:00:00")
    thursday_night = utc("2030-01-18T07:00:00")  # Thursday 23:00: the window is Friday's
    assert next_opening(night, LOS_ANGELES, thursday_night) == utc("2030-01-19T04:00:00")


def test_an_end_of_24_00_is_midnight() -> None:
    evening = CallingHours(days=("wed",), start="20:00", end="24:00")
    wednesday_2330 = utc("2030-01-17T07:30:00")
    assert next_opening(evening, LOS_ANGELES, wednesday_2330) == wednesday_2330
    thursday_0030 = utc("2030-01-17T08:30:00")
    assert next_opening(evening, LOS_ANGELES, thursday_0030) == utc("2030-01-24T04:00:00")


def test_a_number_in_several_zones_waits_until_the_window_is_open_in_all() -> None:
    mobile = callee_zones("+61400123456")  # an Australian mobile: Cocos (UTC+6:30) to Sydney
    assert {"Indian/Cocos", "Australia/Sydney"} <= set(mobile)
    # January: 09:00 in Cocos is 02:30 UTC, 18:00 in Sydney (summer time, +11) is 07:00 UTC.
    monday = utc("2030-01-14T00:00:00")
    assert next_opening(OFFICE, mobile, monday) == utc("2030-01-14T02:30:00")
    assert next_opening(OFFICE, mobile, utc("2030-01-14T06:59:00")) == utc("2030-01-14T06:59:00")
    assert next_opening(OFFICE, mobile, utc("2030-01-14T07:00:00")) == utc("2030-01-15T02:30:00")


def test_zones_that_never_share_an_open_moment_have_no_safe_time() -> None:
    toll_free = callee_zones("+18005550123")  # from Guam (UTC+10) to Pago Pago (UTC-11)
    assert len(toll_free) > 10
    assert next_opening(OFFICE, toll_free, utc("2030-01-16T20:00:00")) is None


def test_a_number_without_a_zone_has_no_safe_time() -> None:
    assert next_opening(OFFICE, (), utc("2030-01-16T20:00:00")) is None
