"""What the history keeps of one call, and how a listing asks for calls.

`ArchivedCall` is a finished call as a whole: the worker's record when a worker handled it
(transcript, latency, usage...) and, for a call placed through the API or a campaign, its
request and status history. A call that never reached a worker (canceled, refused, failed
before any dial) has no record: its outcome is its final status.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dialroom.call_status import CallStatus, StatusEvent
from dialroom.calls import CallRecord, Direction
from dialroom.dial import DialRequest


class ArchivedCall(BaseModel):
    model_config = ConfigDict(frozen=True)

    call_id: str
    direction: Direction
    persona: str
    outcome: str
    started_at: float
    ended_at: float
    caller_number: str | None = None
    called_number: str | None = None
    status: CallStatus | None = None  # outbound: where the call ended; inbound: none
    attempts: int = 1
    sip_code: int | None = None
    detail: str | None = None
    campaign_id: str | None = None
    history: list[StatusEvent] = []
    request: DialRequest | None = None
    record: CallRecord | None = None

    @property
    def trunk(self) -> str | None:
        """The SIP trunk (`ST_...`) the call came in or went out by, as its worker saw it."""
        return self.record.trunk if self.record is not None else None

    @property
    def voice_to_voice(self) -> list[tuple[float, float]]:
        """(when, seconds) of each measured agent reply."""
        turns = self.record.turns if self.record is not None else []
        return [(t.at, t.voice_to_voice_s) for t in turns if t.voice_to_voice_s is not None]


class CallFilter(BaseModel):
    """Which calls a listing, an export or the stats look at; every field narrows it."""

    model_config = ConfigDict(frozen=True)

    direction: Direction | None = None
    persona: str | None = None
    outcome: str | None = None
    status: CallStatus | None = None
    campaign_id: str | None = None
    number: str | None = Field(
        default=None, description="'+' and digits: that number exactly; digits: its last digits"
    )
    since: float | None = None  # started at or after (unix seconds)
    until: float | None = None  # started before
    has_recording: bool | None = None  # finished calls with (or without) a recording
    trunk: str | None = None  # finished calls by this SIP trunk (`ST_...`)

    @property
    def history_only(self) -> bool:
        """Only finished calls can match: a live call has no outcome, no end and no
        recording yet."""
        return (
            self.outcome is not None
            or self.since is not None
            or self.until is not None
            or self.has_recording is not None
            or self.trunk is not None
        )


class Position(BaseModel):
    """Where a page of the history ends: the last call's start and id (newest first)."""

    model_config = ConfigDict(frozen=True)
    started_at: float
    call_id: str


Bucket = Literal["hour", "day"]


class OutcomeCount(BaseModel):
    start: float  # the bucket's first second (UTC)
    outcome: str
    calls: int


class LatencyStat(BaseModel):
    start: float
    persona: str
    turns: int
    p50_s: float
    p95_s: float


class TrunkLatencyStat(BaseModel):
    start: float
    trunk: str  # `ST_...`; "-" for calls no SIP trunk carried
    turns: int
    p50_s: float
    p95_s: float


class Stats(BaseModel):
    bucket: Bucket
    outcomes: list[OutcomeCount]
    voice_to_voice: list[LatencyStat]  # per persona
    voice_to_voice_by_trunk: list[TrunkLatencyStat] = []
