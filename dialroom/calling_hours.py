"""When a persona may ring someone: its `outbound.calling_hours`, in the callee's local time.

Pure arithmetic over the standard library's zoneinfo; no Redis, no clock of its own (every
function takes `now`), so the dispatcher and its tests agree on every instant.

Rules, as the README states them:

- The window is `start`-`end` local time on each of `days`. An `end` at or before `start`
  runs past midnight: `days: [fri], start: "20:00", end: "02:00"` is Friday 20:00 to
  Saturday 02:00 (the day named is the day the window opens). `end: "24:00"` is midnight.
- Local times follow daylight saving: 09:00 is 09:00 on the clock, winter and summer. A time
  the clocks skip when they go forward (02:30 in New York) counts as if the clocks had not
  moved yet (so 03:30 summer time, PEP 495's rule); a time that happens twice when they go
  back counts its first occurrence.
- The callee's zones come from the number (libphonenumber's time zone data). A number that
  spans several zones (a mobile range, a toll-free number) may only be called while the window
  is open in **all** of them; when the zones never share an open moment, or no zone is known
  for the number, there is no safe time and `next_opening` says so with `None`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as number_timezones

from dialroom.persona import CallingHours

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
UNKNOWN_ZONE = "Etc/Unknown"  # what libphonenumber answers for a number it cannot place
HORIZON_DAYS = 8  # a weekly window opens within 7 days; one more covers an overnight window


@dataclass(frozen=True)
class Window:
    """One open stretch, as UTC instants: [start, end)."""

    start: datetime
    end: datetime


def callee_zones(number: str) -> tuple[str, ...]:
    """The IANA zones the number may ring in; empty when unknown or not a phone number."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = number_timezones.time_zones_for_number(parsed)
    return tuple(z for z in zones if z != UNKNOWN_ZONE)


def next_opening(hours: CallingHours, zones: tuple[str, ...], now: datetime) -> datetime | None:
    """`now` when the window is open now in every zone, else when it next is; None if never
    (no zone, or zones that never share an open moment within `HORIZON_DAYS`)."""
    if not zones:
        return None
    now = now.astimezone(UTC)
    for window in common_windows(hours, zones, now):
        if window.end > now:
            return max(window.start, now)
    return None


def common_windows(hours: CallingHours, zones: tuple[str, ...], now: datetime) -> list[Window]:
    """The stretches open in every zone, from the day before `now` to `HORIZON_DAYS` after."""
    shared = open_windows(hours, ZoneInfo(zones[0]), now)
    for zone in zones[1:]:
        shared = _intersect(shared, open_windows(hours, ZoneInfo(zone), now))
    return shared


def open_windows(hours: CallingHours, zone: ZoneInfo, now: datetime) -> list[Window]:
    """The persona's windows in one zone, as UTC, for the local days around `now`."""
    today = now.astimezone(zone).date()
    start_at, end_at = _clock(hours.start), _clock(hours.end)
    windows = []
    for offset in range(-1, HORIZON_DAYS + 1):
        day = today + timedelta(days=offset)
        if DAY_NAMES[day.weekday()] not in hours.days:
            continue
        end_day = day if end_at > start_at else day + timedelta(days=1)
        start = _instant(day, start_at, zone)
        end = _instant(end_day, end_at, zone)
        if end > start:
            windows.append(Window(start=start, end=end))
    return windows


def describe(hours: CallingHours) -> str:
    """`mon-fri 09:00-18:00`-style text for logs and status details."""
    return f"{','.join(hours.days)} {hours.start}-{hours.end}"


def _clock(text: str) -> timedelta:
    """'HH:MM' as time since local midnight ('24:00' is the next midnight)."""
    hh, mm = text.split(":")
    return timedelta(hours=int(hh), minutes=int(mm))


def _instant(day: date, since_midnight: timedelta, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time (PEP 495, fold=0: see the module docstring)."""
    whole_days, rest = divmod(since_midnight, timedelta(days=1))
    wall = datetime.combine(day + timedelta(days=whole_days), time(), tzinfo=zone) + rest
    return wall.astimezone(UTC)


def _intersect(a: list[Window], b: list[Window]) -> list[Window]:
    """Stretches in both sorted, non-overlapping lists."""
    shared, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i].start, b[j].start), min(a[i].end, b[j].end)
        if start < end:
            shared.append(Window(start=start, end=end))
        if a[i].end < b[j].end:
            i += 1
        else:
            j += 1
    return shared
