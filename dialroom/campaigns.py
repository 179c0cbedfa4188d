"""Campaigns: one persona calling a list of people, a few at a time, within a calling window.

A campaign's calls are ordinary calls: each row becomes a `DialRequest` with its own call id,
status and history (`GET /api/calls` shows them), written as `queued` when the campaign is
created. They are not in the dial queue yet: the campaign holds them in its `pending` list
and the dispatcher's feeder (`dispatcher/campaigns.py`) releases them into the queue, in row
order, while fewer than `concurrency` of the campaign's calls are in flight. Pausing stops the
releases (nothing is dropped: held calls wait); canceling cancels every call not yet dialing.

Keys (all written in one MULTI at creation):
- `dialroom:campaign:<id>` hash: `settings` (JSON), `state`, `created_at`, `concurrency`,
  `total` (rows given), `do_not_call` (rows skipped: their number is on the do-not-call list)
- `dialroom:campaign:<id>:calls` list of call ids; `...:pending` the ones not yet released;
  `...:inflight` set of released calls that have not finished
- `dialroom:campaigns` sorted set (id -> sequence, newest highest), `dialroom:campaigns:feeding`
  set of campaigns the feeder looks at, `dialroom:campaign:of-call` hash (call id -> campaign)
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Collection
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator
from redis.asyncio import Redis
from redis.exceptions import WatchError

from dialroom import dnc
from dialroom.call_status import STATUS_KEY, CallStatus, record_status, transition
from dialroom.dial import DialRequest
from dialroom.dial_queue import CALLS, CANCELABLE, REQUEST_KEY, SCHEDULED, SEQUENCE, new_call_id
from dialroom.persona import CallingHours

CAMPAIGN_KEY = "dialroom:campaign:{campaign_id}"
CALL_IDS_KEY = "dialroom:campaign:{campaign_id}:calls"
PENDING_KEY = "dialroom:campaign:{campaign_id}:pending"
INFLIGHT_KEY = "dialroom:campaign:{campaign_id}:inflight"
CAMPAIGNS = "dialroom:campaigns"
CAMPAIGN_SEQUENCE = "dialroom:campaigns:sequence"
FEEDING = "dialroom:campaigns:feeding"
CAMPAIGN_OF_CALL = "dialroom:campaign:of-call"
MAX_CALLEES = 100_000  # rows per campaign; MAX_BODY_BYTES usually limits them first


class CampaignState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELED = "canceled"
    COMPLETED = "completed"  # every call released and finished


class Callee(BaseModel):
    """One row: who to call, and what the persona's greeting and prompt may say about them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to_number: str = Field(description="E.164, e.g. +15551234567")
    caller_name: str | None = None
    variables: dict[str, str] = {}


class CampaignSettings(BaseModel):
    """Everything about a campaign but its rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, max_length=200)
    persona: str
    from_number: str | None = Field(default=None, description="Caller id, E.164")
    calling_hours: CallingHours | None = Field(
        default=None, description="Calls are released only inside this window"
    )
    concurrency: int = Field(default=1, ge=1, le=100, description="Its calls in flight at once")
    max_attempts: int = Field(default=1, ge=1, le=10, description="Per call; busy / no-answer")


class CampaignSpec(CampaignSettings):
    """What a client asks for: the settings and the rows."""

    callees: list[Callee] = Field(min_length=1)

    @field_validator("callees")
    @classmethod
    def _not_too_many(cls, callees: list[Callee]) -> list[Callee]:
        # Not `max_length`: a schema limit invites clients to send a body past MAX_BODY_BYTES.
        if len(callees) > MAX_CALLEES:
            raise ValueError(f"at most {MAX_CALLEES} callees per campaign")
        return callees


class Campaign(CampaignSettings):
    campaign_id: str
    state: CampaignState
    created_at: float
    total: int = Field(description="Rows given")
    do_not_call: int = Field(description="Rows skipped: the number is on the do-not-call list")


def new_campaign_id() -> str:
    return uuid.uuid4().hex


async def create(redis: Redis, spec: CampaignSpec) -> Campaign:
    """Write the campaign and one queued call per row not on the do-not-call list."""
    campaign_id = new_campaign_id()
    listed = await dnc.listed_among(redis, [c.to_number for c in spec.callees])
    requests = [_request(spec, callee) for callee in spec.callees if callee.to_number not in listed]
    campaign = Campaign(
        **spec.model_dump(exclude={"callees"}),
        campaign_id=campaign_id,
        state=CampaignState.RUNNING if requests else CampaignState.COMPLETED,
        created_at=time.time(),
        total=len(spec.callees),
        do_not_call=len(spec.callees) - len(requests),
    )
    last = await redis.incrby(SEQUENCE, len(requests)) if requests else 0
    order = await redis.incr(CAMPAIGN_SEQUENCE)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(CAMPAIGN_KEY.format(campaign_id=campaign_id), mapping=_fields(campaign))
        pipe.zadd(CAMPAIGNS, {campaign_id: order})
        for sequence, request in enumerate(requests, start=last - len(requests) + 1):
            pipe.set(REQUEST_KEY.format(call_id=request.call_id), request.model_dump_json())
            pipe.zadd(CALLS, {request.call_id: sequence})
            record_status(pipe, request.call_id, CallStatus.QUEUED)
            pipe.hset(CAMPAIGN_OF_CALL, request.call_id, campaign_id)
        if requests:
            ids = [r.call_id for r in requests]
            pipe.rpush(CALL_IDS_KEY.format(campaign_id=campaign_id), *ids)
            pipe.rpush(PENDING_KEY.format(campaign_id=campaign_id), *ids)
            pipe.sadd(FEEDING, campaign_id)
        await pipe.execute()
    return campaign


def _request(spec: CampaignSpec, callee: Callee) -> DialRequest:
    return DialRequest(
        to_number=callee.to_number,
        persona=spec.persona,
        caller_name=callee.caller_name,
        from_number=spec.from_number,
        variables=callee.variables,
        max_attempts=spec.max_attempts,
        call_id=new_call_id(),
    )


def _fields(campaign: Campaign) -> dict[str, str | int | float]:
    settings = CampaignSettings(**campaign.model_dump(include=set(CampaignSettings.model_fields)))
    return {
        "settings": settings.model_dump_json(),
        "state": campaign.state.value,
        "created_at": campaign.created_at,
        "concurrency": campaign.concurrency,
        "total": campaign.total,
        "do_not_call": campaign.do_not_call,
    }


async def load(redis: Redis, campaign_id: str) -> Campaign | None:
    raw = await redis.hgetall(CAMPAIGN_KEY.format(campaign_id=campaign_id))
    return _parse(campaign_id, raw) if raw else None


def _parse(campaign_id: str, raw: dict[str, str]) -> Campaign:
    fields = {_text(k): _text(v) for k, v in raw.items()}
    settings = CampaignSettings.model_validate_json(fields["settings"])
    return Campaign(
        **settings.model_dump(),
        campaign_id=campaign_id,
        state=CampaignState(fields["state"]),
        created_at=float(fields["created_at"]),
        total=int(fields["total"]),
        do_not_call=int(fields["do_not_call"]),
    )


async def progress(redis: Redis, campaign: Campaign) -> dict[str, int]:
    """How many rows were given, skipped, are still held, and how many calls are in each
    status now."""
    campaign_id = campaign.campaign_id
    call_ids = await redis.lrange(CALL_IDS_KEY.format(campaign_id=campaign_id), 0, -1)
    async with redis.pipeline(transaction=False) as pipe:
        for call_id in call_ids:
            pipe.hget(STATUS_KEY.format(call_id=_text(call_id)), "status")
        pipe.llen(PENDING_KEY.format(campaign_id=campaign_id))
        *statuses, waiting = await pipe.execute()
    by_status = Counter(_text(s) for s in statuses if s)
    return {
        "total": campaign.total,
        "do_not_call": campaign.do_not_call,
        "waiting": int(waiting),
        **{status.value: by_status.get(status.value, 0) for status in CallStatus},
    }


async def page(redis: Redis, *, before: int | None, count: int) -> list[tuple[Campaign, int]]:
    """Campaigns newest first, with their sequence numbers, older than `before` when given."""
    top = f"({before}" if before is not None else "+inf"
    rows = await redis.zrevrangebyscore(CAMPAIGNS, top, "-inf", start=0, num=count, withscores=True)
    found = []
    for campaign_id, sequence in rows:
        campaign = await load(redis, _text(campaign_id))
        if campaign is not None:
            found.append((campaign, int(sequence)))
    return found


async def move(
    redis: Redis, campaign_id: str, state: CampaignState, *, expect: Collection[CampaignState]
) -> tuple[bool, Campaign | None]:
    """Compare-and-set of the campaign's state; (moved, the campaign as it was before)."""
    key = CAMPAIGN_KEY.format(campaign_id=campaign_id)
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(key)
                raw = await pipe.hgetall(key)
                before = _parse(campaign_id, raw) if raw else None
                if before is None or before.state not in expect:
                    return False, before
                pipe.multi()
                pipe.hset(key, "state", state.value)
                if state in (CampaignState.CANCELED, CampaignState.COMPLETED):
                    pipe.srem(FEEDING, campaign_id)
                await pipe.execute()
                return True, before
            except WatchError:
                continue


async def cancel(redis: Redis, campaign_id: str) -> tuple[bool, Campaign | None]:
    """Cancel a running or paused campaign and every one of its calls not yet dialing.

    The state moves first, so the feeder (which releases only for a running campaign, in
    one script) releases nothing more; a call released just before is still `queued` and is
    canceled here, and the dispatcher skips it.
    """
    moved, before = await move(
        redis,
        campaign_id,
        CampaignState.CANCELED,
        expect={CampaignState.RUNNING, CampaignState.PAUSED},
    )
    if not moved:
        return False, before
    call_ids = await redis.lrange(CALL_IDS_KEY.format(campaign_id=campaign_id), 0, -1)
    for call_id in map(_text, call_ids):
        await transition(
            redis,
            call_id,
            CallStatus.CANCELED,
            expect=CANCELABLE,
            detail="campaign canceled",
            also=lambda pipe, call_id=call_id: pipe.zrem(SCHEDULED, call_id),
        )
    await redis.delete(PENDING_KEY.format(campaign_id=campaign_id))
    return True, before


async def campaigns_of(redis: Redis, call_ids: list[str]) -> dict[str, str]:
    """The campaign of each call that belongs to one."""
    if not call_ids:
        return {}
    found = await redis.hmget(CAMPAIGN_OF_CALL, call_ids)
    return {c: _text(found_id) for c, found_id in zip(call_ids, found, strict=True) if found_id}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
