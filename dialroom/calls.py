"""The call record: one per call, written by the worker when the call ends, read by the API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from dialroom.recordings import RecordingRef

CALL_KEY = "dialroom:call:{call_id}"
# sorted sets, call id -> end time: the records Redis holds (trimmed as they expire), and those
# not yet in the call history (`dispatcher.archive` takes each out once it is)
CALLS_BY_END = "dialroom:calls:ended"
CALLS_TO_ARCHIVE = "dialroom:calls:to-archive"

Direction = Literal["inbound", "outbound", "browser"]  # browser: worker/browser.py


class TranscriptLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    role: Literal["caller", "agent"]
    text: str
    at: float
    persona: str | None = None  # who the caller was talking to (several after a hand-off)


class TurnLatency(BaseModel):
    """How long one agent reply to the caller took, by stage, in seconds (None: not measured).

    `voice_to_voice_s` is what the caller lives through: from the end of their speech to the
    start of the agent's. The stages overlap (the LLM streams into the TTS), so they do not
    add up to it.
    """

    model_config = ConfigDict(frozen=True)
    at: float
    end_of_turn_s: float | None = None  # caller stopped speaking -> turn judged over
    stt_s: float | None = None  # caller stopped speaking -> final transcript
    llm_ttft_s: float | None = None  # LLM request -> first token
    tts_ttfb_s: float | None = None  # first text to the TTS -> first audio
    voice_to_voice_s: float | None = None
    # wall clock (`time.time()`) of the two ends of voice_to_voice_s, as the worker placed them:
    # the caller's end of speech (its VAD) and the agent's first audio played out
    caller_stopped_at: float | None = None
    agent_started_at: float | None = None


class Usage(BaseModel):
    """What the call consumed from its providers (what a cloud bill is made of)."""

    model_config = ConfigDict(frozen=True)
    llm_input_tokens: int = 0
    llm_output_tokens: int = 0
    stt_audio_s: float = 0.0
    tts_characters: int = 0
    tts_audio_s: float = 0.0


class ToolCall(BaseModel):
    """One function tool the agent ran: what it was asked and what it answered."""

    model_config = ConfigDict(frozen=True)
    name: str
    arguments: dict[str, Any] | str
    output: str | None = None
    error: bool = False
    at: float


class GuardEvent(BaseModel):
    """A sentence the output guard kept from being spoken (persona `guard:`): which rule it
    broke and the few words that broke it, not the sentence itself."""

    model_config = ConfigDict(frozen=True)
    at: float
    turn: int  # the agent's line it was in (1: the first the agent spoke)
    rule: str  # the `guard.banned` entry, as written
    matched: str  # the text the rule matched (at most 80 characters)
    replaced_with: str


class McpConnection(BaseModel):
    """An MCP server the persona names, as the call found it at its start."""

    model_config = ConfigDict(frozen=True)
    url: str
    connected: bool
    tools: list[str] = []  # what the LLM was offered (after `allowed_tools`)
    error: str | None = None  # why it was not reached: the call went on without its tools


class PersonaPart(BaseModel):
    """One persona's part of a call: the first from the start, the next from its hand-off."""

    model_config = ConfigDict(frozen=True)
    persona: str
    from_s: float  # seconds into the call it took over (0: it answered)
    context: Literal["full", "summary"] | None = None  # what it was told (None: the first)


class VoicemailCheck(BaseModel):
    """Who answered an outbound call (persona `voicemail:`), and what the agent did about it."""

    model_config = ConfigDict(frozen=True)
    answered_by: str  # human | machine-vm | machine-unavailable | machine-ivr | uncertain
    reason: str  # how it was decided: short_greeting, llm, no_speech_timeout, ...
    action: Literal["greeted", "left_message", "hung_up"]
    decided_after_s: float  # from the answer to the verdict: what a human waited


class CallRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    call_id: str
    persona: str
    direction: Direction
    room: str
    caller_number: str | None = None
    called_number: str | None = None
    trunk: str | None = None  # the SIP trunk the call came in or went out by (`ST_...`)
    started_at: float
    ended_at: float
    outcome: str
    transcript: list[TranscriptLine] = []
    answered_at: float | None = (
        None  # the conversation began (inbound: joined; outbound: picked up)
    )
    error: str | None = None  # the provider failure that ended the call, if one did
    turns: list[TurnLatency] = []
    usage: Usage = Usage()
    tool_calls: list[ToolCall] = []
    summary: str | None = None  # post_call.summary
    extracted: dict[str, Any] = {}  # post_call.extract: field -> value (None: not found)
    voicemail: VoicemailCheck | None = None  # outbound calls of personas with `voicemail:`
    guard_events: list[GuardEvent] = []  # sentences the persona's `guard:` replaced
    mcp: list[McpConnection] = []  # the persona's `tools.mcp` servers at the call's start
    recording: RecordingRef | None = None  # the call's audio (persona `recording:`)
    personas: list[PersonaPart] = []  # each persona's part, when one handed the call on
    # persona `memory:`: the call's summary and fields are kept as a note on the other party's
    # number for this many days (`dialroom.history.memory`); None: not kept
    memory_keep_days: float | None = None

    @property
    def duration_s(self) -> float:
        return round(self.ended_at - self.started_at, 2)


async def save_call_record(redis: Redis, record: CallRecord) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(CALL_KEY.format(call_id=record.call_id), record.model_dump_json())
        pipe.zadd(CALLS_BY_END, {record.call_id: record.ended_at})
        pipe.zadd(CALLS_TO_ARCHIVE, {record.call_id: record.ended_at})
        await pipe.execute()


async def load_call_record(redis: Redis, call_id: str) -> CallRecord | None:
    raw = await redis.get(CALL_KEY.format(call_id=call_id))
    return CallRecord.model_validate_json(raw) if raw else None
