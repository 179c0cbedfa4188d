"""A persona's outbound rules as the dispatcher applies them: its retry delay, its calling
hours and its trunk (`outbound:` in the persona file; the window arithmetic is
`dialroom.calling_hours`).

The persona is read the way the worker reads it (`dialroom.last_good.persona_for_call`): the
file as it is now, or the last good version when an edit broke it, so the dispatcher never
calls out of hours because of a typo. A persona that never loaded gets the dispatcher's
defaults; the worker fails such a call anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

from dialroom.calling_hours import callee_zones, describe, next_opening
from dialroom.dial import DialRequest
from dialroom.last_good import persona_for_call
from dialroom.persona import CallingHours, PersonaError
from dispatcher.settings import DispatcherSettings

logger = logging.getLogger("dialroom.dispatcher")


@dataclass(frozen=True)
class CallRules:
    retry_delay_s: float
    calling_hours: CallingHours | None
    trunk: str  # the outbound trunk the call goes out on


@dataclass(frozen=True)
class Closed:
    """Not now: wait until `opens_at`, or, when it is None, there is no safe time at all."""

    opens_at: datetime | None
    why: str


async def rules_for(redis: Redis, request: DialRequest, settings: DispatcherSettings) -> CallRules:
    defaults = CallRules(
        retry_delay_s=settings.retry_delay_s,
        calling_hours=None,
        trunk=settings.sip_outbound_trunk,
    )
    try:
        loaded = await persona_for_call(
            request.persona, redis, agents_dir=settings.agents_dir, prompts_dir=settings.prompts_dir
        )
    except PersonaError as err:
        logger.warning("call %s: %s; dispatcher defaults apply", request.call_id, err)
        return defaults
    rules = loaded.persona.outbound
    delay = rules.retry_delay_s if rules.retry_delay_s is not None else settings.retry_delay_s
    return CallRules(
        retry_delay_s=delay,
        calling_hours=rules.calling_hours,
        trunk=rules.trunk or settings.sip_outbound_trunk,
    )


def closed_now(hours: CallingHours | None, to_number: str, now: datetime) -> Closed | None:
    """None when the call may ring now; else when it may, and why not now."""
    if hours is None:
        return None
    zones = callee_zones(to_number)
    opening = next_opening(hours, zones, now)
    if opening == now:
        return None
    if not zones:
        return Closed(None, f"calling hours {describe(hours)}: no time zone known for the number")
    where = zones[0] if len(zones) == 1 else f"all of {len(zones)} zones of the number"
    if opening is None:
        return Closed(None, f"calling hours {describe(hours)} are never open in {where}")
    due = opening.isoformat(timespec="seconds").replace("+00:00", "Z")
    return Closed(opening, f"outside calling hours {describe(hours)} in {where}; due {due}")
