"""What the dispatcher observes for /metrics: a finished call's reply latency, per stage,
persona and trunk (when it is archived), and how long a call waited in the queue.

A call may be archived twice (an archiver killed before it let the call go; a worker's record
arriving after the call's final status): its turns are observed once, guarded by a key named
after the call that lives as long as the call's other Redis keys could.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from dialroom import campaigns, metrics
from dialroom.dial import DialRequest
from dialroom.history import ArchivedCall

OBSERVED_KEY = "dialroom:metrics:observed:{call_id}"
OBSERVED_TTL_S = 7 * 24 * 3600
UNKNOWN_TRUNK = "unknown"
# TurnLatency field -> the `stage` label
STAGES = {
    "end_of_turn_s": "end_of_turn",
    "stt_s": "stt",
    "llm_ttft_s": "llm_first_token",
    "tts_ttfb_s": "tts_first_audio",
    "voice_to_voice_s": "voice_to_voice",
}


async def observe_archived(redis: Redis, call: ArchivedCall, *, trunk: str) -> bool:
    """Observe the call's measured turns, once per call; True when observed now."""
    turns = call.record.turns if call.record is not None else []
    if not turns:
        return False
    guard = OBSERVED_KEY.format(call_id=call.call_id)
    if not await redis.set(guard, "1", nx=True, ex=OBSERVED_TTL_S):
        return False
    for field, stage in STAGES.items():
        values = [v for t in turns if (v := getattr(t, field)) is not None]
        labels = (stage, call.persona or "-", trunk or UNKNOWN_TRUNK)
        await metrics.observe(
            redis, metrics.STAGE_LATENCY_KEY, labels, values, metrics.STAGE_BUCKETS
        )
    return True


async def observe_queue_wait(redis: Redis, request: DialRequest, *, due_at: float) -> None:
    """From when the call was enqueued (or became due: its schedule, its retry) to now, its
    dispatch. A campaign's call waits in the campaign too, which counts."""
    owner = (await campaigns.campaigns_of(redis, [request.call_id])).get(request.call_id)
    since = due_at
    if owner is not None and request.attempt == 1 and request.schedule_at is None:
        campaign = await campaigns.load(redis, owner)
        since = campaign.created_at if campaign is not None else due_at
    source = "campaign" if owner is not None else "api"
    waited = max(0.0, time.time() - since)
    await metrics.observe(
        redis, metrics.QUEUE_WAIT_KEY, (source,), [waited], metrics.QUEUE_WAIT_BUCKETS
    )
