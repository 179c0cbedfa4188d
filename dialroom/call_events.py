"""The call events contract: what `WEBHOOK_URL` receives for every call, inbound or outbound.

Two events per call, POSTed as JSON and signed exactly as a call's status webhooks are
(`dialroom.webhooks`: HMAC-SHA256 over `<timestamp>.<raw body>` with `WEBHOOK_SECRET`):

- `call.started` when its conversation begins (the worker marks it live, `dialroom.live_calls`);
- `call.ended` when it is in the call history (`dispatcher.archive`), so the event carries the
  whole call: outcome, transcript, summary, extracted fields, latency summary, recording URL.
  Every call ends with one, the ones that never reached a conversation too (busy, canceled,
  lines busy, not in service, failed before the answer).

Delivery is at least once: `event_id` (`<call_id>:started`, `<call_id>:ended`, also in the
`X-Dialroom-Event` header) is the same for every retry, so a receiver dedupes on it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from dialroom.calls import Direction, TranscriptLine, TurnLatency
from dialroom.history.call import ArchivedCall
from dialroom.history.stats import percentile
from dialroom.live_calls import LiveCall

EventType = Literal["call.started", "call.ended"]
STARTED: EventType = "call.started"
ENDED: EventType = "call.ended"
RECORDING_PATH = "/api/calls/{call_id}/recording"
STAGES = ("end_of_turn_s", "stt_s", "llm_ttft_s", "tts_ttfb_s", "voice_to_voice_s")
# The outbox's hash per event (body, tries, state): the dispatcher writes it
# (`dispatcher.call_events`), the console reads it; one definition for both.
EVENT_KEY = "dialroom:event:{event_id}"


class StageSummary(BaseModel):
    """One latency stage over a call's agent replies, in seconds."""

    turns: int
    p50_s: float
    p95_s: float
    max_s: float


class LatencySummary(BaseModel):
    turns: int  # agent replies measured
    stages: dict[str, StageSummary]  # stage (TurnLatency field) -> summary; unmeasured left out


class CallEvent(BaseModel):
    event_id: str
    type: EventType
    at: float  # when the event happened (start: the answer; end: the call's end)
    call_id: str
    direction: Direction
    persona: str
    trunk: str | None = None
    campaign_id: str | None = None


class CallEnded(CallEvent):
    outcome: str
    status: str | None = None  # outbound: the final status; inbound: none
    started_at: float
    ended_at: float
    duration_s: float
    caller_number: str | None = None
    called_number: str | None = None
    sip_code: int | None = None
    detail: str | None = None
    transcript: list[TranscriptLine] = []
    summary: str | None = None
    extracted: dict[str, Any] = {}
    latency: LatencySummary | None = None
    recording_url: str | None = None  # the API path of the recording, when there is one


def event_id(call_id: str, kind: EventType) -> str:
    return f"{call_id}:{kind.removeprefix('call.')}"


def started(call: LiveCall, *, campaign_id: str | None = None) -> CallEvent:
    return CallEvent(
        event_id=event_id(call.call_id, STARTED),
        type=STARTED,
        at=call.answered_at,
        call_id=call.call_id,
        direction=call.direction,
        persona=call.persona,
        trunk=call.trunk or None,
        campaign_id=campaign_id,
    )


def ended(call: ArchivedCall, *, trunk: str | None = None) -> CallEnded:
    record = call.record
    return CallEnded(
        event_id=event_id(call.call_id, ENDED),
        type=ENDED,
        at=call.ended_at,
        call_id=call.call_id,
        direction=call.direction,
        persona=call.persona,
        trunk=trunk or None,
        campaign_id=call.campaign_id,
        outcome=call.outcome,
        status=call.status.value if call.status is not None else None,
        started_at=call.started_at,
        ended_at=call.ended_at,
        duration_s=round(call.ended_at - call.started_at, 2),
        caller_number=call.caller_number,
        called_number=call.called_number,
        sip_code=call.sip_code,
        detail=call.detail,
        transcript=record.transcript if record else [],
        summary=record.summary if record else None,
        extracted=record.extracted if record else {},
        latency=latency_summary(record.turns) if record and record.turns else None,
        recording_url=recording_url(call),
    )


def recording_url(call: ArchivedCall) -> str | None:
    """The recording's API path when the call's record says it has one, else None."""
    if call.record is None or call.record.recording is None:
        return None
    return RECORDING_PATH.format(call_id=call.call_id)


def latency_summary(turns: list[TurnLatency]) -> LatencySummary:
    stages = {}
    for stage in STAGES:
        values = sorted(v for t in turns if (v := getattr(t, stage)) is not None)
        if values:
            stages[stage] = StageSummary(
                turns=len(values),
                p50_s=percentile(values, 0.5),
                p95_s=percentile(values, 0.95),
                max_s=values[-1],
            )
    return LatencySummary(turns=len(turns), stages=stages)
