"""Turn a persona into a configured AgentSession: providers, turn taking, interruptions."""

from __future__ import annotations

from typing import Any

from livekit.agents import AgentSession, inference

from dialroom.persona import Persona
from worker.call_state import CallState
from worker.providers import build_llm, build_stt, build_tts


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
        "preemptive_generation": {"enabled": persona.llm.provider != "flow"},
    }


def build_session(persona: Persona, state: CallState) -> AgentSession[CallState]:
    return AgentSession[CallState](
        stt=build_stt(persona.stt),
        llm=build_llm(persona),
        tts=build_tts(persona.tts),
        turn_handling=turn_handling(persona),  # type: ignore[arg-type]
        userdata=state,
    )
