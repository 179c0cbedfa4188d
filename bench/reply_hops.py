"""Where a reply's time goes under load: the phone's reply cut at the worker's two marks.

The phone measures a reply from the caller's last voiced sample to the first reply audio it
hears. The worker's call record places two wall-clock marks inside it (`TurnLatency`): the
caller's end of speech as its VAD saw it, and the agent's first reply audio played out. Both
run on this box's clock, so each reply splits into three hops:

- inbound: the caller's last sample at the phone -> the end of speech at the worker (the
  phone's RTP, livekit-sip, livekit-server, the call process's WebRTC receive, its audio
  input and VAD, all late by as much as any of them falls behind);
- worker: the end of speech -> the first reply audio out (endpointing, STT, LLM, TTS);
- outbound: the first reply audio out -> the first reply audio at the phone (livekit-server,
  livekit-sip, the phone's jitter buffer).

The worker hop is cut further by the record's stages: end of turn (end of speech -> turn judged
over), LLM first token (request -> first token), TTS first audio (first text -> first audio).
What they leave of the hop (`unplaced_s`) is the worker's own time between them: the LLM
request sent after the turn, the first sentence gathered for the TTS, the first audio through
the session's output to the room, and any wait for the CPU on the way.

A phone call is paired with its call record by the caller's number (each phone process of the
bench calls from its own), and within one number by the order of answering, when both ends
have the same number of replies (else that number's calls are left out).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from bench.first_call import CallTiming

RECORDS_WITHIN_S = 30.0  # a round's calls reach the history this soon after they end
POLL_S = 1.0


@dataclass(frozen=True)
class PhoneReply:
    """One reply as the phone heard it; wall-clock seconds."""

    caller: str  # the number the phone called from
    answered_at: float  # media active at the phone
    caller_end_at: float  # the caller's last voiced sample
    reply_at: float  # the first reply audio after it


@dataclass(frozen=True)
class WorkerReply:
    """The first reply of one call record; wall-clock seconds."""

    caller: str
    answered_at: float
    speech_end_at: float  # the caller's end of speech as the worker's VAD placed it
    audio_out_at: float  # the agent's first reply audio played out
    stages: WorkerStages


@dataclass(frozen=True)
class WorkerStages:
    """The record's stages of one reply (`TurnLatency`); None: not measured."""

    end_of_turn_s: float | None = None
    llm_ttft_s: float | None = None
    tts_ttfb_s: float | None = None


STAGES = tuple(WorkerStages.__dataclass_fields__)


@dataclass(frozen=True)
class ReplyHops:
    inbound_s: float
    worker_s: float
    outbound_s: float
    stages: WorkerStages = WorkerStages()

    @property
    def unplaced_s(self) -> float | None:
        """The worker hop less its three stages (None when one was not measured)."""
        measured = [getattr(self.stages, name) for name in STAGES]
        if any(stage is None for stage in measured):
            return None
        return self.worker_s - sum(measured)


def phone_replies(timings: list[CallTiming], callers: dict[int, str]) -> list[PhoneReply]:
    """The replies the phones heard, on the wall clock (`callers`: call number -> caller)."""
    replies = []
    for t in timings:
        if t.failure or t.media_active_at is None or t.caller_end_s is None or t.reply_s is None:
            continue
        end = t.media_active_at + t.caller_end_s
        replies.append(
            PhoneReply(
                caller=callers[t.call],
                answered_at=t.media_active_at,
                caller_end_at=end,
                reply_at=end + t.reply_s,
            )
        )
    return replies


def worker_replies(records: Iterable[dict]) -> list[WorkerReply]:
    """The first measured reply of each exported call (`GET /api/calls/export`, JSON Lines)."""
    replies = []
    for call in records:
        record = call.get("record") or {}
        turns = [
            t
            for t in record.get("turns") or []
            if t.get("caller_stopped_at") and t.get("agent_started_at")
        ]
        answered = record.get("answered_at") or call.get("started_at")
        if not turns or answered is None:
            continue
        replies.append(
            WorkerReply(
                caller=call.get("caller_number") or "",
                answered_at=float(answered),
                speech_end_at=float(turns[0]["caller_stopped_at"]),
                audio_out_at=float(turns[0]["agent_started_at"]),
                stages=WorkerStages(**{name: turns[0].get(name) for name in STAGES}),
            )
        )
    return replies


def split(phone: list[PhoneReply], worker: list[WorkerReply]) -> list[ReplyHops]:
    """Each phone reply that has its call's record, cut into its three hops."""
    by_caller: dict[str, list[WorkerReply]] = defaultdict(list)
    for reply in worker:
        by_caller[reply.caller].append(reply)
    heard: dict[str, list[PhoneReply]] = defaultdict(list)
    for reply in phone:
        heard[reply.caller].append(reply)
    hops = []
    for caller, replies in heard.items():
        records = by_caller.get(caller, [])
        if len(records) != len(replies):
            continue  # a call of this number without its reply at one end: no safe pairing
        # within one number, the calls were answered in the same order at both ends
        pairs = zip(
            sorted(replies, key=lambda r: r.answered_at),
            sorted(records, key=lambda r: r.answered_at),
            strict=True,
        )
        for at_phone, at_worker in pairs:
            hops.append(
                ReplyHops(
                    inbound_s=at_worker.speech_end_at - at_phone.caller_end_at,
                    worker_s=at_worker.audio_out_at - at_worker.speech_end_at,
                    outbound_s=at_phone.reply_at - at_worker.audio_out_at,
                    stages=at_worker.stages,
                )
            )
    return hops


def fetch_records(api: httpx.Client, *, since: float, calls: int) -> list[dict]:
    """The history's calls started since `since`, once `calls` of them are there (or after
    `RECORDS_WITHIN_S`, with what is there)."""
    moment = datetime.fromtimestamp(since, UTC).isoformat()
    deadline = time.monotonic() + RECORDS_WITHIN_S
    while True:
        response = api.get("/api/calls/export", params={"format": "jsonl", "since": moment})
        response.raise_for_status()
        records = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        if len(records) >= calls or time.monotonic() > deadline:
            return records
        time.sleep(POLL_S)
