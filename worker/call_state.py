"""Per-call state: who is calling, as which persona, and how the call ended."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from pydantic import ValidationError

from dialroom.calls import CallRecord, Direction, TranscriptLine
from dialroom.dial import DialRequest


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
        )


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
    "error": "error",
}
