"""The call record: one per call, written by the worker when the call ends, read by the API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

CALL_KEY = "dialroom:call:{call_id}"
CALLS_BY_END = "dialroom:calls:ended"  # sorted set: call id -> end time

Direction = Literal["inbound", "outbound"]


class TranscriptLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    role: Literal["caller", "agent"]
    text: str
    at: float


class CallRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    call_id: str
    persona: str
    direction: Direction
    room: str
    caller_number: str | None = None
    called_number: str | None = None
    started_at: float
    ended_at: float
    outcome: str
    transcript: list[TranscriptLine] = []

    @property
    def duration_s(self) -> float:
        return round(self.ended_at - self.started_at, 2)


async def save_call_record(redis: Redis, record: CallRecord) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(CALL_KEY.format(call_id=record.call_id), record.model_dump_json())
        pipe.zadd(CALLS_BY_END, {record.call_id: record.ended_at})
        await pipe.execute()


async def load_call_record(redis: Redis, call_id: str) -> CallRecord | None:
    raw = await redis.get(CALL_KEY.format(call_id=call_id))
    return CallRecord.model_validate_json(raw) if raw else None
