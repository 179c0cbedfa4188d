"""Honouring "don't call me again": the person's number goes on the do-not-call list.

Two ways, because not every persona has a model that can call a tool:
- `add_to_do_not_call`, a function tool an LLM persona's agent gets on outbound calls: the
  model decides from the conversation, at once, and can confirm it to the person;
- `after_call`, run when every call ends: the caller's own lines are matched against the
  usual phrasings (`asks_not_to_be_called`). Flow personas rely on this one. A caller who
  says it on an inbound call is listed too: a number that asked not to be called is not
  called, whoever rang whom.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from livekit.agents import RunContext, ToolError, function_tool, llm
from redis.asyncio import Redis

from dialroom import dnc
from dialroom.calls import TranscriptLine
from dialroom.redact import mask_number
from worker.call_redis import call_redis
from worker.call_state import CallState

logger = logging.getLogger("dialroom.worker.do_not_call")

TOOL_NAME = "add_to_do_not_call"
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_WHO = r"(?:me|us|my number|this number|this phone)"
_PHRASES = re.compile(
    "|".join(
        (
            # don't call me again / do not ever ring us anymore / never call this number again
            rf"\b(?:don'?t|do not|never)\s+(?:ever\s+)?(?:call|ring|phone|contact)\s+{_WHO}"
            r"\s+(?:ever\s+)?(?:again|anymore|any more|any longer)\b",
            # stop calling me
            rf"\bstop\s+(?:calling|ringing|phoning|contacting)\s+{_WHO}\b",
            # remove me from your list / take my number off the calling list
            rf"\b(?:remove|take|delete|cross)\s+{_WHO}\s+(?:off|from|out of)\s+"
            r"(?:of\s+)?(?:your|the|this|that)\s+(?:[\w-]+\s+){0,3}list\b",
            # put me on your do-not-call list
            rf"\b(?:put|add|place)\s+{_WHO}\s+(?:on|to)\s+(?:your|the)\s+do not call list\b",
            # I don't want to be called again / we do not want any more calls
            r"\b(?:i|we)\s+(?:don'?t|do not)\s+want\s+(?:to\s+be\s+called|"
            r"(?:any\s*more|more|further|your)\s+calls)\b",
        )
    )
)


def asks_not_to_be_called(text: str) -> bool:
    """True when `text` asks not to be called again (case, punctuation and curly quotes as a
    speech recogniser writes them)."""
    plain = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    plain = re.sub(r"[-\u2010-\u2014]", " ", plain)  # do-not-call
    plain = re.sub(r"[^\w'\s]", " ", plain)
    return bool(_PHRASES.search(" ".join(plain.split())))


def caller_asked(transcript: Iterable[TranscriptLine]) -> bool:
    """Whether the caller (never the agent) asked, anywhere in the call."""
    return any(line.role == "caller" and asks_not_to_be_called(line.text) for line in transcript)


def their_number(state: CallState) -> str | None:
    """The other party's number, when it is E.164 (the only form the list holds)."""
    number = state.called_number if state.direction == "outbound" else state.caller_number
    return number if number and _E164.match(number) else None


async def list_their_number(redis: Redis, state: CallState, *, how: str) -> bool:
    """Put the other party on the list; False when there is no E.164 number to list."""
    number = their_number(state)
    if number is None:
        logger.warning("call %s: asked not to be called, but no E.164 number", state.call_id)
        return False
    _, added = await dnc.add(redis, number, source=f"{how} on call {state.call_id}")
    if added:
        logger.info(
            "call %s: %s put on the do-not-call list (%s)",
            state.call_id,
            mask_number(number),
            how,
            extra={"call_id": state.call_id},
        )
    return True


async def after_call(state: CallState, redis: Redis) -> None:
    """At the end of every call: list the number if the caller asked in so many words."""
    if caller_asked(state.transcript):
        await list_their_number(redis, state, how="caller asked")


def do_not_call_tool(redis_url: str | None = None) -> llm.FunctionTool:
    """The tool for LLM personas; `redis_url` defaults to the worker's REDIS_URL."""

    async def add_to_do_not_call(ctx: RunContext[CallState]) -> str:
        """Put the person you are talking to on the do-not-call list, so they are never
        called again. Use it as soon as they ask not to be called again, for example
        "don't call me again", "stop calling me" or "take me off your list". Do not argue
        or try to persuade them first. Afterwards tell them briefly that they will not be
        called again, and say goodbye."""
        url = redis_url or _worker_redis_url()
        async with call_redis(url) as redis:
            listed = await list_their_number(redis, ctx.userdata, how="agent listed")
        if not listed:
            raise ToolError("Their number is unknown; say you will pass the request on.")
        return "Done: their number is on the do-not-call list."

    return function_tool(add_to_do_not_call, name=TOOL_NAME)


def _worker_redis_url() -> str:
    from worker.settings import WorkerSettings  # the worker's own settings, read when needed

    return WorkerSettings().redis_url
