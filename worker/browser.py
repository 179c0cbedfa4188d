"""Answering a browser call: someone talks to a persona from a web page.

The API made the room and the dispatch (`dialroom.browser_call.BrowserDispatch`) and gave the
page a token under the identity the dispatch names. The worker waits for exactly that
participant, a plain (STANDARD) LiveKit participant: no SIP attributes, so no caller number,
no dialled number to route on, no SIP headers. From then on it is a caller like any other;
the call record says direction `browser` and has no number.

A page that never joins (closed, or its microphone refused) leaves the agent alone in the
room: after `JOIN_TIMEOUT_S` the room is deleted. A call that ends before the browser joined,
that way or any other (its room deleted), is recorded as `not_joined`.
"""

from __future__ import annotations

import logging

from livekit import rtc
from livekit.agents import JobContext

from dialroom.browser_call import BrowserDispatch
from worker import capacity
from worker.call_state import CallState
from worker.inbound import LINES_BUSY, Caller, arrived
from worker.settings import WorkerSettings

logger = logging.getLogger("dialroom.worker")

JOIN_TIMEOUT_S = 60.0  # the token is short-lived too (`api.browser_call.TOKEN_TTL`)
NOT_JOINED = "not_joined"


async def answer(
    ctx: JobContext, state: CallState, dispatch: BrowserDispatch, settings: WorkerSettings
) -> Caller | None:
    """Wait for the browser named in the dispatch. None when the call ends here: it never
    joined, or every line is taken and WHEN_FULL=reject."""
    state.outcome_override = NOT_JOINED  # until it joins: a room deleted first ends it so too
    participant = await arrived(
        ctx,
        kind=rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
        identity=dispatch.participant,
        within_s=JOIN_TIMEOUT_S,
    )
    if participant is None:
        logger.info("call %s: the browser never joined", state.call_id)
        return None
    state.outcome_override = None
    state.persona = dispatch.persona  # named by the page: nothing to route
    ctx.log_context_fields = {"call_id": state.call_id, "persona": state.persona}
    if capacity.is_overflow(ctx) and settings.when_full == "reject":
        state.outcome_override = LINES_BUSY
        await capacity.reject(ctx)
        return None
    return Caller(identity=participant.identity, variables={})
