"""Per-call state: who is calling, as which persona, and how the call ended."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dialroom.browser_call import BrowserDispatch
from dialroom.calls import (
    CallRecord,
    Direction,
    GuardEvent,
    McpConnection,
    PersonaPart,
    ToolCall,
    TranscriptLine,
    TurnLatency,
    Usage,
    VoicemailCheck,
)
from dialroom.dial import DialRequest, InboundDispatch
from dialroom.persona import Persona

if TYPE_CHECKING:
    from worker.recording import Recorder


@dataclass
class CallState:
    call_id: str
    persona: str
    direction: Direction
    room: str
    caller_number: str | None = None
    called_number: str | None = None
    trunk: str | None = None  # livekit-sip's `sip.trunkID` on the caller's participant
    started_at: float = field(default_factory=time.time)
    outcome: str = "in_progress"  # set once the call has ended, from `resolve_outcome`
    attempt: int = 1
    answered: bool = False
    duplicate: bool = False
    # How the call itself ended it (a limit, voicemail, lines busy, a failed dial...); else
    # the session's close reason decides. `resolve_outcome` reads both, once, at the end.
    outcome_override: str | None = None
    close_reason: str | None = None
    media_lost: bool = False  # the media server died under the call (`worker.media_loss`)
    transcript: list[TranscriptLine] = field(default_factory=list)
    answered_at: float | None = None
    error: str | None = None  # what failed the call: a provider, or a persona that cannot start
    turns: list[TurnLatency] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCall] = field(default_factory=list)
    summary: str | None = None
    extracted: dict[str, Any] = field(default_factory=dict)
    config: Persona | None = None  # the persona the call runs, once loaded
    voicemail: VoicemailCheck | None = None
    recorder: Recorder | None = None  # a recorded call's recording (`worker.recording`)
    guard_events: list[GuardEvent] = field(default_factory=list)  # worker.guard
    mcp: list[McpConnection] = field(default_factory=list)  # worker.tools.mcp
    parts: list[PersonaPart] = field(default_factory=list)  # worker.handoff: who spoke when
    caller_memory: str | None = None  # worker.memory: notes of this number's earlier calls
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
                    caller_stopped_at=_wall_clock(caller.get("stopped_speaking_at")),
                    agent_started_at=_wall_clock(metrics.get("started_speaking_at")),
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
            persona = self.parts[-1].persona if self.parts else None  # tagged once handed on
            line = TranscriptLine(role=who, text=text, at=time.time(), persona=persona)
            self.transcript.append(line)

    def record(self) -> CallRecord:
        return CallRecord(
            call_id=self.call_id,
            persona=self.persona,
            direction=self.direction,
            room=self.room,
            caller_number=self.caller_number,
            called_number=self.called_number,
            trunk=self.trunk,
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
            recording=self.recorder.kept if self.recorder is not None else None,
            guard_events=self.guard_events,
            mcp=self.mcp,
            personas=self.parts,
            memory_keep_days=remembered_for(self),
        )


def remembered_for(state: CallState) -> float | None:
    """How long the call's note is kept on the other party's number (persona `memory:`)."""
    memory = state.config.memory if state.config is not None else None
    number = state.caller_number if state.direction == "inbound" else state.called_number
    if memory is None or not memory.enabled or not number or state.duplicate:
        return None
    return memory.keep_days


def _seconds(value: object) -> float | None:
    return round(float(value), 3) if isinstance(value, int | float) and value >= 0 else None


def _wall_clock(value: object) -> float | None:
    return round(float(value), 3) if isinstance(value, int | float) and value > 0 else None


def _add(totals: dict[str, float], name: str, value: float) -> None:
    totals[name] = totals.get(name, 0) + value


def new_call_state(
    dispatch: DialRequest | InboundDispatch | BrowserDispatch, *, room: str, default_persona: str
) -> CallState:
    """A call's state from what it was dispatched with (`worker.dispatch.read_dispatch`)."""
    if isinstance(dispatch, BrowserDispatch):  # a web page: no numbers at all
        return CallState(
            call_id=dispatch.call_id, persona=dispatch.persona, direction="browser", room=room
        )
    if isinstance(dispatch, DialRequest):
        return CallState(
            call_id=dispatch.call_id,
            persona=dispatch.persona,
            direction="outbound",
            room=room,
            caller_number=dispatch.from_number,
            called_number=dispatch.to_number,
            attempt=dispatch.attempt,
        )
    return CallState(
        call_id=dispatch.call_id,  # random: the room name would carry the dialled number
        persona=dispatch.persona or default_persona,
        direction="inbound",
        room=room,
    )


CALLER_HUNG_UP = "caller_hung_up"
# Why the session closed -> what the call record says happened.
OUTCOMES = {
    "participant_disconnected": CALLER_HUNG_UP,
    "user_initiated": "agent_hung_up",
    "task_completed": "agent_hung_up",
    "job_shutdown": "worker_stopped",
    "error": "provider_error",
}


MEDIA_SERVER_LOST = "media_server_lost"
# Close reasons that are the agent's own decision: the call ended as the persona meant it.
AGENT_ENDED = frozenset({"user_initiated", "task_completed"})


def resolve_outcome(state: CallState) -> str:
    """The one place a call's outcome is decided: what the call itself decided (a limit, a
    voicemail, a transfer, lines busy, not in service, a dial or a start that failed), else
    `media_server_lost` when livekit-server died under a call the agent did not end (what the
    session saw then, the caller gone or the job stopped, is not what happened), else why
    its session closed, else `failed`: the job ended before its conversation did."""
    if state.outcome_override:
        return state.outcome_override
    if state.media_lost and state.close_reason not in AGENT_ENDED:
        return MEDIA_SERVER_LOST
    if state.close_reason:
        return OUTCOMES.get(state.close_reason, state.close_reason)
    return "failed"
