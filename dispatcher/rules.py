"""A call's rules as the dispatcher applies them at every dial: the persona's retry delay,
calling hours and trunk (`outbound:` in the persona file), and the calling hours of the
campaign the call belongs to (the window arithmetic is `dialroom.calling_hours`).

Both windows are checked at every dial: a first attempt, a retry, a call that waited for a
free slot. A call may ring only when both are open; when they never are together (or the
number has no known time zone) there is no safe time, and the call fails (`failed`, the
same for a single call and a campaign's).

The persona is read the way the worker reads it (`dialroom.last_good.persona_for_call`): the
file as it is now, or the last good version when an edit broke it, so the dispatcher never
calls out of hours because of a typo. A persona that never loaded gets the dispatcher's
defaults; the worker fails such a call anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.asyncio import Redis

from dialroom.calling_hours import HORIZON_DAYS, callee_zones, describe, next_opening
from dialroom.campaigns import CAMPAIGN_OF_CALL
from dialroom.campaigns import load as load_campaign
from dialroom.dial import DialRequest
from dialroom.last_good import persona_for_call
from dialroom.persona import CallingHours, PersonaError
from dispatcher.settings import DispatcherSettings

logger = logging.getLogger("dialroom.dispatcher")


@dataclass(frozen=True)
class CallRules:
    retry_delay_s: float
    calling_hours: tuple[CallingHours, ...]  # the persona's and the campaign's, when set
    trunk: str  # the outbound trunk the call goes out on


@dataclass(frozen=True)
class Closed:
    """Not now: wait until `opens_at`, or, when it is None, there is no safe time at all."""

    opens_at: datetime | None
    why: str


async def rules_for(redis: Redis, request: DialRequest, settings: DispatcherSettings) -> CallRules:
    campaign = await campaign_hours(redis, request.call_id)
    try:
        loaded = await persona_for_call(
            request.persona, redis, agents_dir=settings.agents_dir, prompts_dir=settings.prompts_dir
        )
    except PersonaError as err:
        logger.warning("call %s: %s; dispatcher defaults apply", request.call_id, err)
        return CallRules(
            retry_delay_s=settings.retry_delay_s,
            calling_hours=_present(campaign),
            trunk=settings.sip_outbound_trunk,
        )
    rules = loaded.persona.outbound
    delay = rules.retry_delay_s if rules.retry_delay_s is not None else settings.retry_delay_s
    return CallRules(
        retry_delay_s=delay,
        calling_hours=_present(rules.calling_hours, campaign),
        trunk=rules.trunk or settings.sip_outbound_trunk,
    )


async def campaign_hours(redis: Redis, call_id: str) -> CallingHours | None:
    """The calling hours of the campaign the call belongs to, if any."""
    campaign_id = await redis.hget(CAMPAIGN_OF_CALL, call_id)
    campaign = await load_campaign(redis, str(campaign_id)) if campaign_id else None
    return campaign.calling_hours if campaign else None


def _present(*hours: CallingHours | None) -> tuple[CallingHours, ...]:
    return tuple(h for h in hours if h is not None)


def closed_now(windows: Sequence[CallingHours], to_number: str, now: datetime) -> Closed | None:
    """None when the call may ring now (every window open); else when it may, and why not."""
    if not windows:
        return None
    zones = callee_zones(to_number)
    if not zones:
        return Closed(None, f"calling hours {_names(windows)}: no time zone known for the number")
    where = zones[0] if len(zones) == 1 else f"all of {len(zones)} zones of the number"
    at = now
    while at - now <= timedelta(days=HORIZON_DAYS):
        openings = [next_opening(hours, zones, at) for hours in windows]
        if any(opening is None for opening in openings):
            return Closed(None, f"calling hours {_names(windows)} are never open in {where}")
        latest = max(o for o in openings if o is not None)
        if latest == at:
            break  # every window is open at `at`
        at = latest  # one opens later: look again from there
    else:
        return Closed(None, f"calling hours {_names(windows)} are never open together in {where}")
    if at == now:
        return None
    due = at.isoformat(timespec="seconds").replace("+00:00", "Z")
    return Closed(at, f"outside calling hours {_names(windows)} in {where}; due {due}")


def _names(windows: Sequence[CallingHours]) -> str:
    return " and ".join(describe(hours) for hours in windows)
