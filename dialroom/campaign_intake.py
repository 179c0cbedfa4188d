"""Creating a campaign: its rows checked against the do-not-call list and each other, and an
`Idempotency-Key` honoured, so a client that retries a POST gets one campaign, not two.

A number that appears in several rows is called once, for its first row; the others are
counted as `duplicates`. A key repeated with the same settings and rows (compared by a
SHA-256 fingerprint of the validated spec) returns the first campaign; repeated with any
difference it is refused (`IdempotencyConflict`, a 422 from the API), since the client is
asking for something else under the same name. Keys live 24 h, per client API key, as for
single calls (`dialroom.dial_queue`).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from dialroom import dnc
from dialroom.call_status import CallStatus, record_created
from dialroom.campaigns import (
    CALL_IDS_KEY,
    CAMPAIGN_KEY,
    CAMPAIGN_OF_CALL,
    CAMPAIGN_SEQUENCE,
    CAMPAIGNS,
    FEEDING,
    PENDING_KEY,
    Callee,
    Campaign,
    CampaignSpec,
    CampaignState,
    load,
    new_campaign_id,
    stored_fields,
)
from dialroom.dial import DialRequest
from dialroom.dial_queue import CALLS, REQUEST_KEY, SEQUENCE, new_call_id

IDEMPOTENCY_KEY = "dialroom:campaign:idempotency:{scope}:{key}"  # JSON: campaign id, fingerprint
IDEMPOTENCY_TTL_S = 24 * 3600


@dataclass(frozen=True)
class Created:
    campaign: Campaign
    created: bool  # False: an Idempotency-Key repeat, nothing new was created


class IdempotencyConflict(Exception):
    """An Idempotency-Key repeated with another campaign's settings or rows."""


async def create(
    redis: Redis, spec: CampaignSpec, *, idempotency: tuple[str, str] | None = None
) -> Created:
    """Write the campaign and one queued call per row, but rows whose number is on the
    do-not-call list or came in an earlier row (each counted).

    `idempotency` is (scope, key), the scope being the client's key fingerprint: a repeat
    of the key with the same settings and rows returns the first campaign and creates
    nothing; with anything different it raises `IdempotencyConflict`. The key is WATCHed
    and written in the campaign's own MULTI, so two repeats racing create one campaign.
    """
    if idempotency is None:
        async with redis.pipeline(transaction=True) as pipe:
            campaign = await _prepare(redis, pipe, spec)
            await pipe.execute()
        return Created(campaign=campaign, created=True)
    guard = IDEMPOTENCY_KEY.format(scope=idempotency[0], key=idempotency[1])
    fingerprint = hashlib.sha256(spec.model_dump_json().encode()).hexdigest()
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(guard)
                if first := await pipe.get(guard):
                    await pipe.reset()
                    return await _repeat(redis, str(first), fingerprint)
                campaign = await _prepare(redis, pipe, spec)
                memo = {"campaign_id": campaign.campaign_id, "fingerprint": fingerprint}
                pipe.set(guard, json.dumps(memo), ex=IDEMPOTENCY_TTL_S)
                await pipe.execute()
                return Created(campaign=campaign, created=True)
            except WatchError:
                continue


async def _repeat(redis: Redis, memo: str, fingerprint: str) -> Created:
    first = json.loads(memo)
    if first["fingerprint"] != fingerprint:
        raise IdempotencyConflict("the Idempotency-Key was used for a different campaign")
    campaign = await load(redis, first["campaign_id"])
    if campaign is None:  # pragma: no cover - campaigns are never deleted
        raise IdempotencyConflict("the Idempotency-Key's campaign is gone")
    return Created(campaign=campaign, created=False)


async def _prepare(redis: Redis, pipe: Pipeline, spec: CampaignSpec) -> Campaign:
    """Look up what the campaign needs, then queue its writes on `pipe` (in MULTI)."""
    campaign_id = new_campaign_id()
    unique = _first_of_each_number(spec.callees)
    listed = await dnc.listed_among(redis, [c.to_number for c in unique])
    requests = [_request(spec, callee) for callee in unique if callee.to_number not in listed]
    campaign = Campaign(
        **spec.model_dump(exclude={"callees"}),
        campaign_id=campaign_id,
        state=CampaignState.RUNNING if requests else CampaignState.COMPLETED,
        created_at=time.time(),
        total=len(spec.callees),
        do_not_call=len(unique) - len(requests),
        duplicates=len(spec.callees) - len(unique),
    )
    last = await redis.incrby(SEQUENCE, len(requests)) if requests else 0
    order = await redis.incr(CAMPAIGN_SEQUENCE)
    pipe.multi()
    pipe.hset(CAMPAIGN_KEY.format(campaign_id=campaign_id), mapping=stored_fields(campaign))
    pipe.zadd(CAMPAIGNS, {campaign_id: order})
    for sequence, request in enumerate(requests, start=last - len(requests) + 1):
        pipe.set(REQUEST_KEY.format(call_id=request.call_id), request.model_dump_json())
        pipe.zadd(CALLS, {request.call_id: sequence})
        record_created(pipe, request.call_id, CallStatus.QUEUED, attempt=request.attempt)
        pipe.hset(CAMPAIGN_OF_CALL, request.call_id, campaign_id)
    if requests:
        ids = [r.call_id for r in requests]
        pipe.rpush(CALL_IDS_KEY.format(campaign_id=campaign_id), *ids)
        pipe.rpush(PENDING_KEY.format(campaign_id=campaign_id), *ids)
        pipe.sadd(FEEDING, campaign_id)
    return campaign


def _request(spec: CampaignSpec, callee: Callee) -> DialRequest:
    return DialRequest(
        to_number=callee.to_number,
        persona=spec.persona,
        caller_name=callee.caller_name,
        from_number=spec.from_number,
        variables=callee.variables,
        max_attempts=spec.max_attempts,
        callback_url=spec.callback_url,  # each call's status webhooks, as a single call's
        call_id=new_call_id(),
    )


def _first_of_each_number(callees: list[Callee]) -> list[Callee]:
    seen: set[str] = set()
    unique = []
    for callee in callees:
        if callee.to_number not in seen:
            seen.add(callee.to_number)
            unique.append(callee)
    return unique
