"""The Dialroom agent worker: one AgentServer; each call runs the persona it was dispatched with.

Run it with `python -m worker.main start` (start.py does this NUM_AGENTS times).
"""

from __future__ import annotations

import logging

from livekit import rtc
from livekit.agents import (
    Agent,
    AgentServer,
    CloseEvent,
    ConversationItemAddedEvent,
    JobContext,
    JobProcess,
    cli,
)
from livekit.agents.beta import EndCallTool
from redis.asyncio import Redis

from dialroom.calls import save_call_record
from dialroom.persona import Persona, PersonaError, load_persona, read_prompt
from dialroom.redact import mask_number
from worker.call_state import OUTCOMES, CallState, dispatch_metadata
from worker.providers import ProviderConfigError, check_keys
from worker.session import build_session
from worker.settings import ProviderKeys, WorkerSettings

logger = logging.getLogger("dialroom.worker")
settings = WorkerSettings()


class PersonaAgent(Agent):
    """Speaks as one persona: its prompt, its greeting, and the end-call tool."""

    def __init__(self, persona: Persona, *, instructions: str, greeting: str) -> None:
        super().__init__(
            instructions=instructions or f"You are the {persona.name} phone agent.",
            tools=[EndCallTool(end_instructions=None, delete_room=True)],
        )
        self._greeting = greeting

    async def on_enter(self) -> None:
        self.session.say(self._greeting, allow_interruptions=False)


def prewarm(proc: JobProcess) -> None:
    # Load the offline models once per process, before any call waits on them.
    from worker.providers import local_stt, local_tts

    local_stt.prewarm()
    local_tts.prewarm()


server = AgentServer(
    port=settings.worker_port,
    num_idle_processes=settings.worker_idle_processes,
    load_fnc=lambda s: len(s.active_jobs) / settings.max_calls_per_worker,
    load_threshold=1.0,
)
server.setup_fnc = prewarm


@server.rtc_session(agent_name=settings.agent_name)
async def entrypoint(ctx: JobContext) -> None:
    meta = dispatch_metadata(ctx.job.metadata)
    state = CallState(
        call_id=meta.get("call_id") or ctx.job.room.name,
        persona=meta.get("persona") or settings.default_persona,
        direction="outbound" if meta.get("direction") == "outbound" else "inbound",
        room=ctx.job.room.name,
    )
    ctx.log_context_fields = {"call_id": state.call_id, "persona": state.persona}
    ctx.add_shutdown_callback(lambda: _finish_call(state))
    try:
        persona = load_persona(state.persona)
        check_keys(persona, ProviderKeys())
    except (PersonaError, ProviderConfigError) as err:
        state.outcome = "failed"
        logger.error("call %s cannot start: %s", state.call_id, err)
        ctx.delete_room()
        return

    session = build_session(persona, state)
    session.on("conversation_item_added", lambda ev: _on_item(state, ev))
    session.on("close", lambda ev: _on_close(state, ev))
    await ctx.connect()
    caller = await ctx.wait_for_participant(kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP)
    state.caller_number = caller.attributes.get("sip.phoneNumber") or None
    state.called_number = caller.attributes.get("sip.trunkPhoneNumber") or None
    await session.start(_agent_for(persona, state), room=ctx.room)


def _agent_for(persona: Persona, state: CallState) -> PersonaAgent:
    variables = {
        "persona": persona.name,
        "caller_number": state.caller_number or "unknown",
        "called_number": state.called_number or "unknown",
        "caller_name": "",
    }
    greeting = persona.greeting.inbound
    if state.direction == "outbound" and persona.greeting.outbound:
        greeting = persona.greeting.outbound
    return PersonaAgent(
        persona,
        instructions=read_prompt(persona).format(**variables),
        greeting=greeting.format(**variables),
    )


def _on_item(state: CallState, ev: ConversationItemAddedEvent) -> None:
    item = ev.item
    if getattr(item, "type", None) == "message":
        state.heard(item.role, item.text_content or "")


def _on_close(state: CallState, ev: CloseEvent) -> None:
    state.outcome = OUTCOMES.get(str(ev.reason.value), str(ev.reason.value))


async def _finish_call(state: CallState) -> None:
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
    redis = Redis.from_url(settings.redis_url)
    try:
        await save_call_record(redis, record)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    cli.run_app(server)
