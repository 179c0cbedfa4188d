"""The filters a call listing, an export and the stats share, as query parameters.

`?direction=inbound&persona=demo&outcome=lines_busy&status=completed&campaign=...&number=4567
&since=2026-11-01T00:00:00Z&until=...&has_recording=true&trunk=ST_...`: each one narrows.
`number` is a whole E.164 number (`+14155550123`, caller or called) or, digits alone, the last
digits of either. A time without a timezone is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query
from pydantic import BeforeValidator

from dialroom.call_status import CallStatus
from dialroom.calls import Direction
from dialroom.history import CallFilter

Name = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def _iso_only(value: object) -> object:
    """A date and time as ISO 8601, as the schema says; not the unix seconds pydantic takes."""
    try:
        float(str(value))
    except ValueError:
        return value
    raise ValueError("an ISO 8601 date and time, e.g. 2026-11-01T00:00:00Z")


Moment = Annotated[datetime, BeforeValidator(_iso_only)]


def call_filter(
    direction: Direction | None = None,
    persona: Name = None,
    outcome: Name = None,
    status: CallStatus | None = None,
    campaign: Name = None,
    number: Annotated[
        str | None,
        Query(
            pattern=r"^\+?\d{2,15}$",
            description="'+' and digits: that number; digits alone: a number's last digits",
        ),
    ] = None,
    since: Annotated[Moment | None, Query(description="Calls started at or after")] = None,
    until: Annotated[Moment | None, Query(description="Calls started before")] = None,
    has_recording: Annotated[
        bool | None, Query(description="Finished calls with (true) or without a recording")
    ] = None,
    trunk: Annotated[
        str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="SIP trunk id")
    ] = None,
) -> CallFilter:
    return CallFilter(
        direction=direction,
        persona=persona,
        outcome=outcome,
        status=status,
        campaign_id=campaign,
        number=number,
        since=_seconds(since),
        until=_seconds(until),
        has_recording=has_recording,
        trunk=trunk,
    )


def _seconds(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


CallQuery = Annotated[CallFilter, Depends(call_filter)]
