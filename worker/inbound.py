"""Answering an inbound call: who calls, which persona takes the call, and the calls turned
away before any conversation (no persona for the dialled number; every line taken).

The caller's number is read here, once, into the call's state; from then on it appears only
in the call record and, masked, in log lines. The call id is random (`InboundDispatch`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from livekit import rtc
from livekit.agents import Agent, AgentSession, JobContext, room_io
from redis.asyncio import Redis

from dialroom.dial import InboundDispatch
from dialroom.last_good import persona_for_call
from dialroom.persona import PersonaError
from dialroom.redact import mask_number
from worker import capacity
from worker.call_state import CALLER_HUNG_UP, CallState
from worker.providers import ProviderConfigError, build_tts
from worker.routing import header_variables, route_inbound
from worker.settings import WorkerSettings

logger = logging.getLogger("dialroom.worker")

LINES_BUSY = "lines_busy"
NOT_IN_SERVICE = "not_in_service"
# how long the agent waits for the caller's leg, normally there before it (`_caller_in`)
CALLER_WAIT_S = 5.0


@dataclass(frozen=True)
class Caller:
    """The caller's leg in the room, and what its SIP headers give the persona."""

    identity: str
    variables: dict[str, str]  # {sip_h_*}


async def answer(
    ctx: JobContext,
    state: CallState,
    dispatch: InboundDispatch,
    redis: Redis,
    settings: WorkerSettings,
) -> Caller | None:
    """Wait for the caller and route the call to its persona. None when the call ends here:
    the caller hung up while it rang, the number is not in service, or every line is taken
    and WHEN_FULL=reject."""
    participant = await _caller_in(ctx, state)
    if participant is None:
        return None
    state.caller_number = participant.attributes.get("sip.phoneNumber") or None
    state.called_number = participant.attributes.get("sip.trunkPhoneNumber") or None
    persona = route_inbound(
        state.called_number,
        dispatch=dispatch,
        fallback=settings.default_persona,
        agents_dir=settings.agents_dir,
    )
    if persona is None:
        await answer_not_in_service(
            ctx, state, redis, identity=participant.identity, settings=settings
        )
        return None
    state.persona = persona
    ctx.log_context_fields = {"call_id": state.call_id, "persona": state.persona}
    if capacity.is_overflow(ctx) and settings.when_full == "reject":
        state.outcome_override = LINES_BUSY
        await capacity.reject(ctx)
        return None
    return Caller(identity=participant.identity, variables=header_variables(participant.attributes))


async def arrived(
    ctx: JobContext,
    *,
    kind: rtc.ParticipantKind.ValueType,
    identity: str | None = None,
    within_s: float,
) -> rtc.RemoteParticipant | None:
    """The participant the call waits for (a caller's leg, a browser), or None when it has not
    come within `within_s` (the room is then deleted, freeing the line) or the room ended first
    (livekit's wait raises RuntimeError then: no fault of the call)."""
    try:
        return await asyncio.wait_for(
            ctx.wait_for_participant(identity=identity, kind=kind), within_s
        )
    except TimeoutError:
        await ctx.delete_room()
    except RuntimeError:
        pass
    return None


async def _caller_in(ctx: JobContext, state: CallState) -> rtc.RemoteParticipant | None:
    """The caller's SIP leg, in the room before the agent: livekit-sip joins it as the call
    rings, and that join is what dispatches the agent. A caller who hung up while it rang has
    left before the agent came, and would be waited for until livekit-server closed the room
    (its departure timeout, 20 s, a line held): None then, the call recorded as hung up."""
    caller = await arrived(
        ctx, kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP, within_s=CALLER_WAIT_S
    )
    if caller is None:
        logger.info("call %s: the caller hung up before the agent answered", state.call_id)
        state.outcome_override = CALLER_HUNG_UP
    return caller


async def say_lines_busy(
    session: AgentSession[CallState],
    state: CallState,
    identity: str,
    *,
    room: rtc.Room,
    message: str,
) -> None:
    """The extra call a full box takes (WHEN_FULL=message): say so, and hang up."""
    state.outcome_override = LINES_BUSY
    await session.start(
        Agent(instructions="Apologise that all lines are busy."),
        room=room,
        session_host=False,  # nobody reads it: see room_audio
        room_options=room_io.RoomOptions(participant_identity=identity),
    )
    await session.say(message, allow_interruptions=False)
    session.shutdown()


async def answer_not_in_service(
    ctx: JobContext, state: CallState, redis: Redis, *, identity: str, settings: WorkerSettings
) -> None:
    """Say NOT_IN_SERVICE_MESSAGE in DEFAULT_PERSONA's voice, then hang up."""
    state.persona, state.outcome_override = "", NOT_IN_SERVICE
    logger.info("call %s: no persona for %s", state.call_id, mask_number(state.called_number))
    try:
        voice = await persona_for_call(
            settings.default_persona,
            redis,
            agents_dir=settings.agents_dir,
            prompts_dir=settings.prompts_dir,
        )
        tts = build_tts(voice.persona.tts)
    except (PersonaError, ProviderConfigError, ValueError) as err:
        logger.error("call %s: cannot say the not-in-service message: %s", state.call_id, err)
        ctx.delete_room()
        return
    session = AgentSession[CallState](tts=tts, userdata=state)
    await session.start(
        Agent(instructions="Tell the caller this number is not in service."),
        room=ctx.room,
        session_host=False,  # nobody reads it: see room_audio
        room_options=room_io.RoomOptions(participant_identity=identity),
    )
    await session.say(settings.not_in_service_message, allow_interruptions=False)
    session.shutdown()
    ctx.delete_room()
