"""Per-call state: who is calling, as which persona, and how the call ended."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from dialroom.calls import (
    CallRecord,
    Direction,
    ToolCall,
    TranscriptLine,
    TurnLatency,
    Usage,
    VoicemailCheck,
)
from dialroom.dial import DialRequest
from dialroom.persona import Persona


@dataclass
class CallState:
    call_id: str
    persona: str
    direction: Direction
    room: str
    caller_number: str | None = None
    called_number: str | None = None
    started_at: float = field(default_factory=time.time)
    outcome: str = "in_progress"
    attempt: int = 1
    answered: bool = False
    duplicate: bool = False
    outcome_override: str | None = None  # set when the agent ends the call for a limit
    transcript: list[TranscriptLine] = field(default_factory=list)
    answered_at: float | None = None
    error: str | None = None  # the provider failure that ended the call
    turns: list[TurnLatency] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCall] = field(default_factory=list)
    summary: str | None = None
    extracted: dict[str, Any] = field(default_factory=dict)
    config: Persona | None = None  # the persona the call runs, once loaded
    voicemail: VoicemailCheck | None = None
    # metrics of the caller turn awaiting the agent's reply
    _caller_turn: Mapping[str, Any] | None = field(default=None, init=False, repr=False)

    def measured(self, role: str, metrics: Mapping[str, Any]) -> None:
        """A committed message's latency metrics (livekit's `ChatMessage.metrics`).

        A caller message is held until the agent's reply to it; the pair is one turn.
        """
        if role == "user":
            self._caller_turn = metrics
        elif role == "assistant" and self._caller_turn is not None:
            caller, self._caller_turn = self._caller_turn, None
            self.turns.append(
                TurnLatency(
                    at=time.time(),
                    end_of_turn_s=_seconds(caller.get("end_of_turn_delay")),
                    stt_s=_seconds(caller.get("transcription_delay")),
                    llm_ttft_s=_seconds(metrics.get("llm_node_ttft")),
                    tts_ttfb_s=_seconds(metrics.get("tts_node_ttfb")),
                    voice_to_voice_s=_seconds(metrics.get("e2e_latency")),
                )
            )

    def used(self, model_usage: Iterable[Any]) -> None:
        """The session's usage so far (livekit's `AgentSessionUsage.model_usage`)."""
        totals: dict[str, float] = {}
        for usage in model_usage:
            kind = getattr(usage, "type", "")
            if kind == "llm_usage":
                _add(totals, "llm_input_tokens", usage.input_tokens)
                _add(totals, "llm_output_tokens", usage.output_tokens)
            elif kind == "stt_usage":
                _add(totals, "stt_audio_s", usage.audio_duration)
            elif kind == "tts_usage":
                _add(totals, "tts_characters", usage.characters_count)
                _add(totals, "tts_audio_s", usage.audio_duration)
        self.usage = Usage.model_validate(
            {k: round(v, 3) if isinstance(v, float) else v for k, v in totals.items()}
        )

    def ran_tool(self, name: str, arguments: str, output: str | None, *, error: bool) -> None:
        try:
            args: dict[str, Any] | str = json.loads(arguments or "{}")
        except json.JSONDecodeError:
            args = arguments
        self.tool_calls.append(
            ToolCall(name=name, arguments=args, output=output, error=error, at=time.time())
        )

    def heard(self, role: str, text: str) -> None:
        if text:
            who = "caller" if role == "user" else "agent"
            self.transcript.append(TranscriptLine(role=who, text=text, at=time.time()))

    def record(self) -> CallRecord:
        return CallRecord(
            call_id=self.call_id,
            persona=self.persona,
            direction=self.direction,
            room=self.room,
            caller_number=self.caller_number,
            called_number=self.called_number,
            started_at=self.started_at,
            ended_at=time.time(),
            outcome=self.outcome,
            transcript=self.transcript,
            answered_at=self.answered_at,
            error=self.error,
            turns=self.turns,
            usage=self.usage,
            tool_calls=self.tool_calls,
            summary=self.summary,
            extracted=self.extracted,
            voicemail=self.voicemail,
        )


def _seconds(value: object) -> float | None:
    return round(float(value), 3) if isinstance(value, int | float) and value >= 0 else None


def _add(totals: dict[str, float], name: str, value: float) -> None:
    totals[name] = totals.get(name, 0) + value


def outbound_request(raw: str | None) -> DialRequest | None:
    """The dial request an outbound dispatch carries; None for an inbound call."""
    if dispatch_metadata(raw).get("direction") == "inbound" or not raw:
        return None
    try:
        return DialRequest.from_metadata(raw)
    except ValidationError:
        return None


def new_call_state(
    raw: str | None, *, room: str, request: DialRequest | None, default_persona: str
) -> CallState:
    if request is not None:
        return CallState(
            call_id=request.call_id,
            persona=request.persona,
            direction="outbound",
            room=room,
            caller_number=request.from_number,
            called_number=request.to_number,
            attempt=request.attempt,
        )
    meta = dispatch_metadata(raw)
    return CallState(
        call_id=meta.get("call_id") or room,
        persona=meta.get("persona") or default_persona,
        direction="inbound",
        room=room,
    )


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def fill(template: str, variables: dict[str, str]) -> str:
    """Fill `{variables}`; one the call does not carry becomes empty rather than an error."""
    return template.format_map(_Blank(variables))


def dispatch_metadata(raw: str | None) -> dict[str, str]:
    """The JSON a dispatch (SIP rule or API) carries; anything unreadable counts as empty."""
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


# Why the session closed -> what the call record says happened.
OUTCOMES = {
    "participant_disconnected": "caller_hung_up",
    "user_initiated": "agent_hung_up",
    "task_completed": "agent_hung_up",
    "job_shutdown": "worker_stopped",
    "error": "provider_error",
}
