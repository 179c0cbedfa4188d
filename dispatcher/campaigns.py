"""The campaign feeder: releases each running campaign's held calls into the dial queue.

Called by the dispatch loop before it reads the queue. For every campaign it looks after:
forget the in-flight calls that have finished (a busy / no-answer call with attempts left is
still in flight: its retry comes back), then release pending calls, in row order, while
fewer than `concurrency` are in flight and the callee's calling window is open. From then on
a released call is an ordinary queued call under the dispatcher's own rules.

The release is one Lua script (check the state, count the in-flight set, take the call off
`pending`, add it to the stream and to `inflight`), so two dispatchers feeding at once can
never put more than `concurrency` calls of a campaign in flight, and a pause or cancel that
lands first stops it cleanly.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from redis.asyncio import Redis

from dialroom.call_status import STATUS_KEY, TERMINAL, CallStatus, current_statuses, transition
from dialroom.calling_hours import callee_zones, describe, next_opening
from dialroom.campaigns import (
    CAMPAIGN_KEY,
    FEEDING,
    INFLIGHT_KEY,
    PENDING_KEY,
    Campaign,
    CampaignState,
    load,
    move,
)
from dialroom.dial import DialRequest
from dialroom.dial_queue import QUEUE_STREAM, REQUEST_KEY

logger = logging.getLogger("dialroom.dispatcher")

SCAN = 200  # pending calls looked at per campaign and pass, at most, for an open window
RETRYABLE = frozenset({CallStatus.BUSY, CallStatus.NO_ANSWER})

_RELEASE = """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
local cap = tonumber(redis.call('HGET', KEYS[1], 'concurrency'))
local released = 0
for i = 3, #ARGV do
    if redis.call('SCARD', KEYS[3]) >= cap then break end
    local call_id = ARGV[i]
    if redis.call('LREM', KEYS[2], 1, call_id) == 1 then
        local status = redis.call('HGET', ARGV[1] .. call_id, 'status')
        local request = redis.call('GET', ARGV[2] .. call_id)
        if status == 'queued' and request then
            redis.call('XADD', KEYS[4], '*', 'request', request)
            redis.call('SADD', KEYS[3], call_id)
            released = released + 1
        end
    end
end
return released
"""


async def feed_campaigns(redis: Redis, *, now: float | None = None) -> int:
    """One pass over every campaign the feeder looks after; how many calls it released."""
    at = now if now is not None else time.time()
    released = 0
    for campaign_id in await redis.smembers(FEEDING):
        campaign = await load(redis, _text(campaign_id))
        if campaign is None:
            await redis.srem(FEEDING, campaign_id)
        else:
            released += await _feed(redis, campaign, at)
    return released


async def _feed(redis: Redis, campaign: Campaign, now: float) -> int:
    in_flight = await _settle(redis, campaign)
    if campaign.state != CampaignState.RUNNING:
        return 0
    pending_key = PENDING_KEY.format(campaign_id=campaign.campaign_id)
    free = campaign.concurrency - in_flight
    if free <= 0:
        return 0
    pending = [_text(c) for c in await redis.lrange(pending_key, 0, SCAN - 1)]
    if not pending:
        if in_flight == 0:
            await move(
                redis, campaign.campaign_id, CampaignState.COMPLETED, expect={CampaignState.RUNNING}
            )
            logger.info("campaign %s completed", campaign.campaign_id)
        return 0
    candidates = await _open_now(redis, campaign, pending, now, want=free)
    if not candidates:
        return 0
    keys = [
        CAMPAIGN_KEY.format(campaign_id=campaign.campaign_id),
        pending_key,
        INFLIGHT_KEY.format(campaign_id=campaign.campaign_id),
        QUEUE_STREAM,
    ]
    prefixes = [STATUS_KEY.format(call_id=""), REQUEST_KEY.format(call_id="")]
    release = redis.register_script(_RELEASE)
    released = int(await release(keys=keys, args=[*prefixes, *candidates]))
    if released:
        logger.info("campaign %s released %d call(s)", campaign.campaign_id, released)
    return released


async def _settle(redis: Redis, campaign: Campaign) -> int:
    """Drop finished calls from the in-flight set; how many are still in flight."""
    key = INFLIGHT_KEY.format(campaign_id=campaign.campaign_id)
    call_ids = [_text(c) for c in await redis.smembers(key)]
    if not call_ids:
        return 0
    finished = []
    for call_id, now in zip(call_ids, await current_statuses(redis, call_ids), strict=True):
        retry_coming = (
            now is not None and now.status in RETRYABLE and now.attempts < campaign.max_attempts
        )
        if now is None or (now.status in TERMINAL and not retry_coming):
            finished.append(call_id)
    if finished:
        await redis.srem(key, *finished)
    return len(call_ids) - len(finished)


async def _open_now(
    redis: Redis, campaign: Campaign, pending: list[str], now: float, *, want: int
) -> list[str]:
    """The pending calls to offer the release script, in row order: the first `want` whose
    callee may be rung now, and any no longer queued (the script drops those from `pending`
    without counting them). Without calling hours, every pending call: the script stops at
    the cap.

    A callee whose window never opens (no time zone known for the number) fails with the
    reason (as a single call does), rather than being held forever at the head of the
    campaign.
    """
    hours = campaign.calling_hours
    if hours is None:
        return pending
    async with redis.pipeline(transaction=False) as pipe:
        for call_id in pending:
            pipe.get(REQUEST_KEY.format(call_id=call_id))
            pipe.hget(STATUS_KEY.format(call_id=call_id), "status")
        replies = await pipe.execute()
    instant = datetime.fromtimestamp(now, UTC)
    chosen: list[str] = []
    opened = 0
    for call_id, raw, status in zip(pending, replies[::2], replies[1::2], strict=True):
        if raw is None or _text(status) != CallStatus.QUEUED.value:
            chosen.append(call_id)
            continue
        request = DialRequest.model_validate_json(raw)
        opening = next_opening(hours, callee_zones(request.to_number), instant)
        if opening is None:
            await _never_open(redis, campaign, request, describe(hours))
        elif opening <= instant:
            chosen.append(call_id)
            opened += 1
            if opened == want:
                break
    return chosen


async def _never_open(redis: Redis, campaign: Campaign, request: DialRequest, window: str) -> None:
    call_id = request.call_id
    await transition(
        redis,
        call_id,
        CallStatus.FAILED,  # "no safe time" is `failed`, for a single call too (`rules`)
        attempt=request.attempt,
        expect={CallStatus.QUEUED},
        detail=f"calling hours {window}: never open for this number's time zone(s)",
    )
    await redis.lrem(PENDING_KEY.format(campaign_id=campaign.campaign_id), 1, call_id)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
