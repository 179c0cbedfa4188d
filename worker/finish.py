"""The end of a call, in one place: how its session closed, its outcome (decided once, by
`resolve_outcome`), its record, the do-not-call list, and an outbound call's last status.

Runs as the job's shutdown callback, so it runs however the call ended: hung up, failed before
it started, or the worker stopping.
"""

from __future__ import annotations

import logging

from livekit.agents import CloseEvent, JobContext
from redis.asyncio import Redis

from dialroom.call_status import CallStatus, transition
from dialroom.calls import save_call_record
from dialroom.redact import mask_number
from worker import post_call
from worker.bridge_loss import DETAIL as SIP_BRIDGE_DETAIL
from worker.bridge_loss import SIP_BRIDGE_LOST
from worker.call_state import MEDIA_SERVER_LOST, CallState, resolve_outcome
from worker.tools import do_not_call, warm_transfer

logger = logging.getLogger("dialroom.worker")

FAILED = "failed"
BROKEN_AFTER_ANSWER = {
    FAILED: "the call failed after it was answered",
    MEDIA_SERVER_LOST: "media_server_lost: livekit-server died during the call",
    SIP_BRIDGE_LOST: SIP_BRIDGE_DETAIL,
}


def on_close(ctx: JobContext, state: CallState, ev: CloseEvent) -> None:
    """The session closed: note why, and end the call unless a warm transfer bridged it."""
    state.close_reason = str(ev.reason.value)
    if warm_transfer.bridged(ctx.room):
        return  # caller and human talk on; the room goes when either hangs up
    # The room outlives a caller who hangs up; deleting it ends the job and drops any leg left.
    ctx.delete_room()


async def finish_call(state: CallState, redis: Redis) -> None:
    try:
        if state.duplicate:
            return  # the call record belongs to whoever dialed it
        state.outcome = resolve_outcome(state)
        if state.config is not None:
            await post_call.summarize(state, state.config)
        if state.recorder is not None:
            await state.recorder.keep()  # the session closed its file before this callback
        record = state.record()
        logger.info(
            "call ended: call_id=%s persona=%s direction=%s caller=%s duration_s=%.1f outcome=%s",
            record.call_id,
            record.persona,
            record.direction,
            mask_number(record.caller_number),
            record.duration_s,
            record.outcome,
            extra={"call_id": record.call_id, "persona": record.persona},
        )
        await save_call_record(redis, record)
        await do_not_call.after_call(state, redis)  # "don't call me again" -> do-not-call list
        await _report_end(state, redis)
    finally:
        await redis.aclose()


async def _report_end(state: CallState, redis: Redis) -> None:
    """An answered outbound call ends `completed`, or `failed` when it broke after the answer
    (a call that was never answered has its status from the dial)."""
    if state.direction != "outbound" or not state.answered:
        return
    if state.outcome in BROKEN_AFTER_ANSWER:
        detail = state.error or BROKEN_AFTER_ANSWER[state.outcome]
        await transition(
            redis, state.call_id, CallStatus.FAILED, attempt=state.attempt, detail=detail
        )
    else:
        await transition(redis, state.call_id, CallStatus.COMPLETED, attempt=state.attempt)
