"""Campaigns: one persona calling a list of people, a few at a time, within a calling window.

A campaign's calls are ordinary calls: each row becomes a `DialRequest` with its own call id,
status and history (`GET /api/calls` shows them), written as `queued` when the campaign is
created. They are not in the dial queue yet: the campaign holds them in its `pending` list
and the dispatcher's feeder (`dispatcher/campaigns.py`) releases them into the queue, in row
order, while fewer than `concurrency` of the campaign's calls are in flight. Pausing stops the
releases (nothing is dropped: held calls wait); canceling cancels every call not yet dialing.

Keys (all written in one MULTI at creation):
- `dialroom:campaign:<id>` hash: `settings` (JSON), `state`, `created_at`, `concurrency`,
  `total` (rows given), `do_not_call` (rows skipped: their number is on the do-not-call list),
  `duplicates` (rows skipped: their number came in an earlier row; each number is called once)
- `dialroom:campaign:<id>:calls` list of call ids; `...:pending` the ones not yet released;
  `...:inflight` set of released calls that have not finished
- `dialroom:campaigns` sorted set (id -> sequence, newest highest), `dialroom:campaigns:feeding`
  set of campaigns the feeder looks at, `dialroom:campaign:of-call` hash (call id -> campaign)
- `dialroom:campaign:idempotency:<scope>:<key>` (24 h): the campaign an `Idempotency-Key`
  created, and a fingerprint of the settings and rows it came with
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Collection
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator
from redis.asyncio import Redis
from redis.exceptions import WatchError

from dialroom import dial_queue
from dialroom.call_status import STATUS_KEY, CallStatus
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
    callback_url: str | None = Field(
        default=None, max_length=2000, description="Receives each of its calls' status webhooks"
    )


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
    duplicates: int = Field(
        default=0, description="Rows skipped: the number came in an earlier row (called once)"
    )


def new_campaign_id() -> str:
    return uuid.uuid4().hex


def stored_fields(campaign: Campaign) -> dict[str, str | int | float]:
    settings = CampaignSettings(**campaign.model_dump(include=set(CampaignSettings.model_fields)))
    return {
        "settings": settings.model_dump_json(),
        "state": campaign.state.value,
        "created_at": campaign.created_at,
        "concurrency": campaign.concurrency,
        "total": campaign.total,
        "do_not_call": campaign.do_not_call,
        "duplicates": campaign.duplicates,
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
        duplicates=int(fields.get("duplicates", 0)),
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
        "duplicates": campaign.duplicates,
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
        await dial_queue.cancel(redis, call_id, detail="campaign canceled")
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
