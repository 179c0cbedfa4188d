"""The Dialroom agent worker: one AgentServer; each call runs the persona it was dispatched with.

Run by `python -m worker.main start` (start.py does this NUM_AGENTS times).

A call's life, as `entrypoint` reads: what it was dispatched with (`worker.dispatch`), then
answer (`worker.inbound`) or dial (`worker.outbound`), the agent built before answering or
while the phone rings (`worker.prepare`, `worker.dial_out`), the conversation, and the
finish (`worker.finish`), which decides the outcome once and writes the record.
"""

from __future__ import annotations

import logging
import os
import time

from livekit.agents import (
    AgentServer,
    AgentSession,
    ConversationItemAddedEvent,
    JobContext,
    JobProcess,
    JobRequest,
)
from redis.asyncio import Redis

from dialroom import live_calls, provider_errors
from dialroom.browser_call import BrowserDispatch
from dialroom.call_status import CallStatus, transition
from dialroom.dial import DialRequest, InboundDispatch
from dialroom.last_good import CallPersona
from dialroom.templates import fill
from worker import (
    apology,
    browser,
    capacity,
    dial_out,
    finish,
    inbound,
    late_imports,
    outbound,
    recording,
    redact_logs,
    rust_logs,
    voicemail,
    warm_loop_monitor,
)
from worker.bridge_loss import watch as watch_sip_bridge
from worker.call_limits import CallLimits
from worker.call_redis import call_redis
from worker.call_state import CallState, new_call_state
from worker.dispatch import read_dispatch
from worker.media_loss import watch as watch_media_server
from worker.preload import PRELOADED
from worker.prepare import CannotStart, Prepared, build, load, prepare
from worker.registration import report_registration
from worker.room_audio import room_options
from worker.served_rooms import ServedRooms
from worker.settings import WorkerSettings
from worker.tools.dtmf import Keypad

logger = logging.getLogger("dialroom.worker")
settings = WorkerSettings()


def prewarm(proc: JobProcess) -> None:
    # A call process loads no model: local speech lives in the worker's inference process
    # (`shared_speech`); the apology is read from the WAV rendered when the worker started.
    apology.prewarm()
    rust_logs.keep_native()  # livekit-rtc's debug records stay in Rust, not one FFI event each
    warm_loop_monitor.pause()  # no loop monitor while the process waits for a call
    if settings.call_process_nice:
        os.nice(settings.call_process_nice)
    late_imports.note_ready()  # what the call imports after this is logged at its end


server = AgentServer(
    host="127.0.0.1",  # status port stays on loopback; LiveKit is reached outbound
    port=settings.worker_port,
    num_idle_processes=settings.idle_processes,
    load_fnc=lambda s: capacity.load(s, settings.max_calls_per_worker),
    load_threshold=1.0,
    # imported once in the forkserver: a new call process starts from a fork, not imports
    preload_modules=list(PRELOADED),
    initialize_process_timeout=settings.process_start_timeout_s,
)
server.setup_fnc = prewarm
lines = capacity.Lines(server, settings)
served_rooms = ServedRooms(settings.redis_url)  # one agent per call
report_registration(server, settings.worker_registered_file)


async def on_request(request: JobRequest) -> None:
    if not await served_rooms.turned_down(request):
        await lines.on_request(request)


@server.rtc_session(agent_name=settings.agent_name, on_request=on_request)
async def entrypoint(ctx: JobContext) -> None:
    warm_loop_monitor.resume()  # livekit's loop monitor, from the call's start to its end
    redact_logs.install()  # before the framework names the caller in a log line
    dispatch = read_dispatch(ctx.job.metadata)
    if dispatch is None:
        ctx.shutdown(reason="invalid dispatch")
        return
    state = new_call_state(
        dispatch, room=ctx.job.room.name, default_persona=settings.default_persona
    )
    ctx.log_context_fields = {"call_id": state.call_id, "persona": state.persona}
    redis = call_redis(settings.redis_url)
    ctx.add_shutdown_callback(lambda: finish.finish_call(state, redis))
    ctx.add_shutdown_callback(lambda: late_imports.report(state.call_id, state.persona))
    if isinstance(dispatch, DialRequest):  # joins the room while it dials
        started = await _dial_out(ctx, dispatch, state, redis)
    else:
        await _connect(ctx, state)
        started = await _answer_in(ctx, dispatch, state, redis)
    if started is not None:
        call, identity = started
        caller = ctx.room.remote_participants.get(identity)
        state.trunk = live_calls.trunk_of(caller) or None
        watch_sip_bridge(ctx.room, state, caller, end_call=ctx.delete_room)  # livekit-sip's death
        await live_calls.begin(redis, state, caller)
        await _converse(ctx, state, call, identity)


async def _answer_in(
    ctx: JobContext, dispatch: InboundDispatch | BrowserDispatch, state: CallState, redis: Redis
) -> tuple[Prepared, str] | None:
    """Inbound: wait for the caller, route, build the agent. None when the call ends here.
    A browser call is answered the same way; its caller is a web page (`worker.browser`)."""
    if isinstance(dispatch, BrowserDispatch):
        caller = await browser.answer(ctx, state, dispatch, settings)
    else:
        caller = await inbound.answer(ctx, state, dispatch, redis, settings)
    if caller is None:
        return None
    call = await _prepare(ctx, state, redis, request=None, sip_variables=caller.variables)
    if call is None:
        return None
    if capacity.is_overflow(ctx):
        await inbound.say_lines_busy(
            call.session,
            state,
            caller.identity,
            room=ctx.room,
            message=settings.lines_busy_message,
        )
        return None
    return call, caller.identity


async def _dial_out(
    ctx: JobContext, request: DialRequest, state: CallState, redis: Redis
) -> tuple[Prepared, str] | None:
    """Outbound: the persona checked, then the dial, with the room joined and the agent built
    while it rings (`worker.dial_out`). None when the call ends here."""
    steps = dial_out.Steps(
        load=lambda: _load(ctx, state, redis),
        dial=lambda trunk: _dial(ctx, request, state, redis, trunk=trunk),
        connect=lambda: _connect(ctx, state),
        build=lambda loaded: _prepare(ctx, state, redis, request=request, loaded=loaded),
    )
    return await dial_out.start(
        steps, call_id=state.call_id, default_trunk=settings.sip_outbound_trunk
    )


async def _connect(ctx: JobContext, state: CallState) -> None:
    await ctx.connect()
    watch_media_server(ctx.room, state, end_call=ctx.delete_room)  # livekit-server's death


async def _load(ctx: JobContext, state: CallState, redis: Redis) -> CallPersona | None:
    try:
        return await load(state, redis, settings)
    except CannotStart as err:
        await _cannot_start(ctx, state, redis, str(err))
        ctx.shutdown(reason="cannot start")  # the room was never joined: its end ends nothing
        return None


async def _prepare(
    ctx: JobContext,
    state: CallState,
    redis: Redis,
    *,
    request: DialRequest | None,
    sip_variables: dict[str, str] | None = None,
    loaded: CallPersona | None = None,
) -> Prepared | None:
    try:
        if loaded is None:
            call = await prepare(
                state, redis, settings, request=request, sip_variables=sip_variables
            )
        else:  # outbound: loaded before the dial (`worker.dial_out`)
            call = await build(loaded, state, settings, request=request)
    except CannotStart as err:
        await _cannot_start(ctx, state, redis, str(err))
        return None
    call.session.on("close", lambda ev: finish.on_close(ctx, state, ev))
    provider_errors.watch(call.session, redis)  # counted for /metrics
    return call


async def _cannot_start(ctx: JobContext, state: CallState, redis: Redis, why: str) -> None:
    state.outcome_override, state.error = finish.FAILED, why
    logger.error("call %s cannot start: %s", state.call_id, why)
    if state.direction == "outbound":
        await transition(redis, state.call_id, CallStatus.FAILED, attempt=state.attempt, detail=why)
    ctx.delete_room()


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
        await transition(
            redis,
            state.call_id,
            err.status,
            attempt=request.attempt,
            sip_code=err.sip_code,
            detail=str(err),
        )
        state.outcome_override = err.status.value
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


async def _converse(ctx: JobContext, state: CallState, call: Prepared, identity: str) -> None:
    """The conversation: greet (after screening an outbound call for a machine), then hold
    the call to its persona's limits; it ends when the session closes (`finish.on_close`)."""
    session, persona = call.session, call.persona
    state.answered_at = state.answered_at or time.time()  # outbound: set when picked up
    session.on("conversation_item_added", lambda ev: _on_item(state, ev))
    await session.start(
        call.agent,
        room=ctx.room,
        session_host=False,  # nobody reads it: see room_audio
        room_options=room_options(identity=identity, input_rate=settings.audio_input_sample_rate),
        record=recording.attach(ctx, state, call, settings),
    )
    if call.screen and not await _human_answered(session, call, state, identity):
        session.shutdown()  # a machine: the message is left (or not); the call ends
        return
    limits = CallLimits(session, persona.limits)
    limits.start()
    ctx.add_shutdown_callback(limits.aclose)
    if persona.tools.dtmf:
        keypad = Keypad(session, ctx.room)
        ctx.add_shutdown_callback(keypad.aclose)


async def _human_answered(
    session: AgentSession[CallState], call: Prepared, state: CallState, identity: str
) -> bool:
    """Screen an outbound call for an answering machine; greet a human, else deal with it."""
    screening = call.persona.voicemail
    assert screening is not None
    verdict = await voicemail.who_answered(session, call.persona, identity)
    state.voicemail = await voicemail.act_on(
        session,
        screening,
        verdict,
        message=fill(screening.message or "", call.variables),
        answered_at=state.answered_at or time.time(),
    )
    if verdict.is_machine:
        state.outcome_override = f"voicemail_{state.voicemail.action}"
        return False
    call.agent.greet()
    return True


def _on_item(state: CallState, ev: ConversationItemAddedEvent) -> None:
    item = ev.item
    if getattr(item, "type", None) == "message":
        state.heard(item.role, item.text_content or "")
