"""Per-call state: who is calling, as which persona, and how the call ended."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from dialroom.calls import CallRecord, Direction, TranscriptLine


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
