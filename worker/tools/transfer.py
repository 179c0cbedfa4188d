"""`transfer_call`: hand the caller to a human at the persona's `tools.transfer.to`.

A cold transfer is a SIP REFER sent to the caller's phone (LiveKit's TransferSIPParticipant):
the phone calls the target itself and the agent's leg ends, so the agent never holds two
lines. A flow persona triggers it with a `transfer: true` step; an LLM persona calls the tool.
"""

from __future__ import annotations

import asyncio
import logging

from livekit import api, rtc
from livekit.agents import RunContext, ToolError, function_tool, get_job_context, llm

from dialroom.persona import TransferTool
from dialroom.redact import mask_number
from worker.call_state import CallState
from worker.providers.flow_llm import TRANSFER_TOOL

logger = logging.getLogger("dialroom.worker.transfer")
TRANSFERRED = "transferred"  # the call record's outcome
# livekit-sip v1.8.0 races a REFER's quick final answer against the end of its SIP transaction
# (`sipResponse` selects on both), so on a fast network an accepted REFER is sometimes reported
# as "transaction failed to complete (0 intermediate responses)" within milliseconds. A REFER
# nobody answered fails only after SIP's 32 s Timer B, so this message means the phone answered.
ANSWER_LOST = "transaction failed to complete (0 intermediate responses)"
REFER_BYE_S = 1.0  # as the bridge does after a REFER: let the phone hang up first, then end the leg


def transfer_tool(config: TransferTool) -> llm.FunctionTool:
    """The tool an agent calls to transfer; its description is what the LLM reads."""

    async def transfer_call(ctx: RunContext[CallState]) -> None:
        ctx.disallow_interruptions()
        await ctx.wait_for_playout()  # let "connecting you now" finish before the line goes
        await cold_transfer(ctx, config.to)

    return function_tool(transfer_call, name=TRANSFER_TOOL, description=config.description)


class TransferFailed(Exception):
    """The bridge or the caller's phone refused the REFER, or the target did not answer."""


class ReferAnswerLost(Exception):
    """The caller's phone answered the REFER but the bridge lost the answer (see ANSWER_LOST)."""


async def cold_transfer(ctx: RunContext[CallState], to: str) -> None:
    """REFER the linked caller to `to`; raise ToolError (heard by the LLM) if it fails."""
    caller = ctx.session.room_io.linked_participant
    if caller is None:
        raise ToolError("The caller is no longer on the line.")
    state = ctx.userdata
    state.outcome_override = TRANSFERRED  # the caller's leg ends as soon as the REFER succeeds
    try:
        await _refer(caller, to)
    except ReferAnswerLost as err:
        # The phone has taken the REFER and is calling the target; the bridge, which believes it
        # failed, will not end this leg: end it ourselves, as the bridge would have.
        logger.warning("call %s: REFER answered, its answer lost (%s)", state.call_id, err)
        await asyncio.sleep(REFER_BYE_S)
        ctx.session.shutdown()
        return
    except TransferFailed as err:
        state.outcome_override = None
        logger.warning("call %s: transfer to %s failed: %s", state.call_id, mask_number(to), err)
        raise ToolError("The transfer did not go through; tell the caller and offer help.") from err
    logger.info("call %s transferred to %s", state.call_id, mask_number(to))


async def _refer(caller: rtc.RemoteParticipant, to: str) -> None:
    try:
        done = await get_job_context().transfer_sip_participant(caller, to, play_dialtone=False)
    except api.TwirpError as err:
        raise refer_error(err) from err
    if done.status == api.SIPTransferStatus.STS_TRANSFER_FAILED:
        raise TransferFailed(done.reason or "transfer failed")


def refer_error(err: api.TwirpError) -> TransferFailed | ReferAnswerLost:
    """What a bridge error on a REFER means: refused or unanswered, or answered and lost."""
    if ANSWER_LOST in err.message:
        return ReferAnswerLost(err.message)
    return TransferFailed(err.message)
