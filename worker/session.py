"""Turn a persona into a configured AgentSession: providers, turn taking, interruptions,
and the listeners that fill the call record (latency per turn, usage, tool calls) and
apologise when a provider fails."""

from __future__ import annotations

from typing import Any

from livekit.agents import (
    AgentSession,
    APIConnectOptions,
    ConversationItemAddedEvent,
    FunctionToolsExecutedEvent,
    SessionUsageUpdatedEvent,
    inference,
)
from livekit.agents.voice.agent_session import SessionConnectOptions

from dialroom.persona import Persona
from worker.apology import ApologyOnError
from worker.call_state import CallState
from worker.providers import build_llm, build_stt, build_tts
from worker.providers.vad import build_call_vad
from worker.settings import ProviderKeys
from worker.speaking_rate import install as vectorize_speaking_rate

# A caller waits in silence while a provider is retried: two quick retries, then the
# apology. (livekit's default, 3 retries 2 s apart, is ~6 s of dead air per failure.)
PROVIDER_RETRIES = APIConnectOptions(max_retry=2, retry_interval=0.5, timeout=10.0)


def turn_handling(persona: Persona) -> dict[str, Any]:
    turn = persona.turn
    detection: Any = (
        inference.TurnDetector(version="v1-mini") if turn.detection == "model" else "vad"
    )
    return {
        "turn_detection": detection,
        "endpointing": {"min_delay": turn.min_endpointing_s, "max_delay": turn.max_endpointing_s},
        # "vad" explicitly: the adaptive default needs LiveKit Cloud inference.
        "interruption": {"enabled": turn.interruptions, "mode": "vad"},
        # A flow's reply depends only on the final transcript; speculative runs add nothing.
        "preemptive_generation": {
            "enabled": turn.preemptive_generation and persona.llm.provider != "flow",
            "preemptive_tts": turn.preemptive_tts,
        },
    }


def build_session(
    persona: Persona, state: CallState, keys: ProviderKeys | None = None
) -> AgentSession[CallState]:
    keys = keys or ProviderKeys()
    vectorize_speaking_rate()  # done in the forkserver already; a process of its own does it here
    voice_activity = build_call_vad(persona)  # one model; each of its streams is its own
    session = AgentSession[CallState](
        stt=build_stt(persona.stt, keys, vad=voice_activity),  # Whisper: see whisper_stream
        vad=voice_activity,
        llm=build_llm(persona, keys),
        tts=build_tts(persona.tts, keys),
        turn_handling=turn_handling(persona),  # type: ignore[arg-type]
        userdata=state,
        conn_options=SessionConnectOptions(
            stt_conn_options=PROVIDER_RETRIES,
            llm_conn_options=PROVIDER_RETRIES,
            tts_conn_options=PROVIDER_RETRIES,
        ),
    )
    record_call(session)
    ApologyOnError(session)
    return session


def record_call(session: AgentSession[CallState]) -> None:
    """Copy what the session measures into its CallState as it happens."""
    state = session.userdata

    def on_item(ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if getattr(item, "type", None) == "message":
            state.measured(item.role, dict(item.metrics))  # type: ignore[union-attr]

    def on_usage(ev: SessionUsageUpdatedEvent) -> None:
        state.used(ev.usage.model_usage)

    def on_tools(ev: FunctionToolsExecutedEvent) -> None:
        for call, result in zip(ev.function_calls, ev.function_call_outputs, strict=False):
            output = result.output if result is not None else None
            error = bool(result is not None and result.is_error)
            state.ran_tool(call.name, call.arguments, output, error=error)

    session.on("conversation_item_added", on_item)
    session.on("session_usage_updated", on_usage)
    session.on("function_tools_executed", on_tools)
