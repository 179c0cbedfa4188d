"""The Dialroom agent worker: one AgentServer; each call runs the persona it was dispatched with.

Run it with `python -m worker.main start` (start.py does this NUM_AGENTS times).
"""

from __future__ import annotations

import logging
import time

from livekit import rtc
from livekit.agents import (
    Agent,
    AgentServer,
    AgentSession,
    CloseEvent,
    ConversationItemAddedEvent,
    JobContext,
    JobProcess,
    JobRequest,
    cli,
    room_io,
)
from redis.asyncio import Redis

from dialroom.call_status import CallStatus, set_status
from dialroom.calls import save_call_record
from dialroom.dial import DialRequest
from dialroom.last_good import persona_for_call
from dialroom.persona import Persona, PersonaError
from dialroom.redact import mask_number
from worker import apology, capacity, outbound, post_call, voicemail
from worker.call_limits import CallLimits
from worker.call_state import OUTCOMES, CallState, fill, new_call_state, outbound_request
from worker.persona_agent import PersonaAgent, agent_for, call_variables
from worker.providers import ProviderConfigError, check_keys
from worker.routing import answer_not_in_service, header_variables, route_inbound
from worker.session import build_session
from worker.settings import ProviderKeys, WorkerSettings
from worker.tools import do_not_call, warm_transfer
from worker.tools.dtmf import Keypad

logger = logging.getLogger("dialroom.worker")
settings = WorkerSettings()


def prewarm(proc: JobProcess) -> None:
    # Load the offline models once per process, before any call waits on them.
    from worker.providers import local_stt, local_tts

    local_stt.prewarm()
    local_tts.prewarm()
    apology.prewarm()


server = AgentServer(
    host="127.0.0.1",  # status port stays on loopback; LiveKit is reached outbound
    port=settings.worker_port,
    num_idle_processes=settings.worker_idle_processes,
    load_fnc=lambda s: capacity.load(s, settings.max_calls_per_worker),
    load_threshold=1.0,
)
server.setup_fnc = prewarm
lines = capacity.Lines(server, settings)


async def on_request(request: JobRequest) -> None:
    await lines.on_request(request)


@server.rtc_session(agent_name=settings.agent_name, on_request=on_request)
async def entrypoint(ctx: JobContext) -> None:
    request = outbound_request(ctx.job.metadata)
    state = new_call_state(
        ctx.job.metadata,
        room=ctx.job.room.name,
        request=request,
        default_persona=settings.default_persona,
    )
    ctx.log_context_fields = {"call_id": state.call_id, "persona": state.persona}
    redis = Redis.from_url(settings.redis_url)
    ctx.add_shutdown_callback(lambda: _finish_call(state, redis))
    await ctx.connect()
    sip_variables: dict[str, str] = {}
    if request is None:
        caller = await ctx.wait_for_participant(kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP)
        state.caller_number = caller.attributes.get("sip.phoneNumber") or None
        state.called_number = caller.attributes.get("sip.trunkPhoneNumber") or None
        sip_variables = header_variables(caller.attributes)
        routed = route_inbound(
            state.called_number,
            metadata=ctx.job.metadata,
            fallback=state.persona,
            agents_dir=settings.agents_dir,
        )
        if routed is None:
            await answer_not_in_service(
                ctx, state, redis, identity=caller.identity, settings=settings
            )
            return
        state.persona = routed
        ctx.log_context_fields = {"call_id": state.call_id, "persona": state.persona}
        identity = caller.identity
        if capacity.is_overflow(ctx) and settings.when_full == "reject":
            state.outcome = "lines_busy"
            await capacity.reject(ctx)
            return
    try:
        loaded = await persona_for_call(
            state.persona, redis, agents_dir=settings.agents_dir, prompts_dir=settings.prompts_dir
        )
        persona = loaded.persona
        state.config = persona
        check_keys(persona, ProviderKeys())
    except (PersonaError, ProviderConfigError) as err:
        await _cannot_start(ctx, state, redis, str(err))
        return
    if request is not None:
        trunk = persona.outbound.trunk or settings.sip_outbound_trunk
        dialed = await _dial(ctx, request, state, redis, trunk=trunk)
        if dialed is None:
            return
        identity = dialed.identity

    session = build_session(persona, state)
    if request is None and capacity.is_overflow(ctx):
        await _say_lines_busy(ctx, session, state, identity)
        return
    state.answered_at = state.answered_at or time.time()  # outbound: set when picked up
    session.on("conversation_item_added", lambda ev: _on_item(state, ev))
    session.on("close", lambda ev: _on_close(ctx, state, ev))
    screen = request is not None and persona.voicemail is not None
    variables = call_variables(loaded.persona, state, request, sip_variables)
    agent = agent_for(loaded, state, request, variables, greet_on_enter=not screen)
    await session.start(
        agent,
        room=ctx.room,
        room_options=room_io.RoomOptions(participant_identity=identity),
    )
    if screen and not await _human_answered(session, agent, persona, state, identity, variables):
        session.shutdown()  # a machine: the message is left (or not); the call ends
        return
    limits = CallLimits(session, persona.limits)
    limits.start()
    ctx.add_shutdown_callback(limits.aclose)
    if persona.tools.dtmf:
        keypad = Keypad(session, ctx.room)
        ctx.add_shutdown_callback(keypad.aclose)


async def _say_lines_busy(
    ctx: JobContext, session: AgentSession[CallState], state: CallState, identity: str
) -> None:
    state.outcome_override = "lines_busy"
    session.on("close", lambda ev: _on_close(ctx, state, ev))
    await session.start(
        Agent(instructions="Apologise that all lines are busy."),
        room=ctx.room,
        room_options=room_io.RoomOptions(participant_identity=identity),
    )
    await session.say(settings.lines_busy_message, allow_interruptions=False)
    session.shutdown()


async def _dial(
    ctx: JobContext, request: DialRequest, state: CallState, redis: Redis, *, trunk: str
) -> outbound.Dialed | None:
    try:
        dialed = await outbound.dial(
            ctx,
            request,
            redis=redis,
            trunk=trunk,
            ring_timeout_s=settings.ring_timeout_s,
        )
    except outbound.DialFailed as err:
        await set_status(
            redis,
            state.call_id,
            err.status,
            attempt=request.attempt,
            sip_code=err.sip_code,
            detail=str(err),
        )
        state.outcome = err.status.value
        logger.info("call %s not connected: %s (%s)", state.call_id, err.status.value, err)
        ctx.shutdown(reason=err.status.value)
        return None
    if dialed is None:
        state.duplicate = True  # the call record belongs to whoever dialed it
        ctx.shutdown(reason="already dialed")
        return None
    state.answered = True
    state.answered_at = time.time()
    return dialed


async def _cannot_start(ctx: JobContext, state: CallState, redis: Redis, why: str) -> None:
    state.outcome = "failed"
    logger.error("call %s cannot start: %s", state.call_id, why)
    if state.direction == "outbound":
        await set_status(redis, state.call_id, CallStatus.FAILED, detail=why)
    ctx.delete_room()


async def _human_answered(
    session: AgentSession[CallState],
    agent: PersonaAgent,
    persona: Persona,
    state: CallState,
    identity: str,
    variables: dict[str, str],
) -> bool:
    """Screen an outbound call for an answering machine; greet a human, else deal with it."""
    assert persona.voicemail is not None
    verdict = await voicemail.who_answered(session, persona, identity)
    state.voicemail = await voicemail.act_on(
        session,
        persona.voicemail,
        verdict,
        message=fill(persona.voicemail.message or "", variables),
        answered_at=state.answered_at or time.time(),
    )
    if verdict.is_machine:
        state.outcome_override = f"voicemail_{state.voicemail.action}"
        return False
    agent.greet()
    return True


def _on_item(state: CallState, ev: ConversationItemAddedEvent) -> None:
    item = ev.item
    if getattr(item, "type", None) == "message":
        state.heard(item.role, item.text_content or "")


def _on_close(ctx: JobContext, state: CallState, ev: CloseEvent) -> None:
    reason = str(ev.reason.value)
    state.outcome = state.outcome_override or OUTCOMES.get(reason, reason)
    if warm_transfer.bridged(ctx.room):
        return  # caller and human talk on; the room goes when either hangs up
    # The room outlives a caller who hangs up; deleting it ends the job and drops any leg left.
    ctx.delete_room()


async def _finish_call(state: CallState, redis: Redis) -> None:
    try:
        if state.duplicate:
            return
        if state.config is not None:
            await post_call.fill(state, state.config)
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
        if state.direction == "outbound" and state.answered:
            await set_status(redis, state.call_id, CallStatus.COMPLETED, attempt=state.attempt)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    cli.run_app(server)
