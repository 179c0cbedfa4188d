"""After the call: a summary and extracted fields for the call record (`post_call:`).

An LLM persona asks its own model, once the caller is gone, so the call itself is never
slowed down. A `flow` persona has no model to ask, but it knows exactly what it collected:
its summary is a fixed sentence over the slots and its extracted fields are those slots.
Nothing here may stop the record from being saved: a failure leaves the fields empty.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from livekit.agents import llm

from dialroom.persona import JsonType, Persona
from worker.call_state import CallState
from worker.flow import reply_to
from worker.providers import build_llm

logger = logging.getLogger("dialroom.worker.post_call")
# The job has 10 s to shut down (livekit's shutdown_process_timeout) and the record is saved
# in that time, after this: a slow model loses its summary, never the record.
TIMEOUT_S = 6.0
SUMMARY_PROMPT = (
    "Summarise this phone call between a caller and an AI phone agent in at most three "
    "sentences: why the caller called, what was agreed, and anything left open."
)
EXTRACT_PROMPT = (
    "From this phone call, extract the fields below. Answer with one JSON object and "
    "nothing else, using exactly these keys; use null for a field the call does not "
    "mention.\nFields:\n{fields}"
)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


async def summarize(state: CallState, persona: Persona, model: llm.LLM | None = None) -> None:
    """Set `state.summary` / `state.extracted` as the persona's `post_call` asks."""
    wanted = persona.post_call
    if not wanted.summary and not wanted.extract:
        return
    if not state.transcript:
        return  # nothing was said (an outbound call nobody answered): no LLM request for it
    if persona.llm.provider == "flow":
        slots = flow_slots(persona, state)
        state.summary = flow_summary(slots) if wanted.summary else None
        state.extracted = {k: coerce(slots.get(k), t) for k, t in wanted.extract.items()}
        return
    model = model or build_llm(persona)
    transcript = transcript_text(state)
    try:
        async with asyncio.timeout(TIMEOUT_S):
            if wanted.summary:
                state.summary = (await ask(model, SUMMARY_PROMPT, transcript)).strip() or None
            if wanted.extract:
                state.extracted = await extract(model, wanted.extract, transcript)
    except Exception as err:  # the record is saved without them; say why once
        logger.warning("call %s: post-call summary/extract failed: %s", state.call_id, err)


def flow_slots(persona: Persona, state: CallState) -> dict[str, str]:
    turns = [line.text for line in state.transcript if line.role == "caller"]
    return reply_to(persona.flow, turns).slots


def flow_summary(slots: dict[str, str]) -> str:
    if not slots:
        return "The caller gave none of the answers the flow asks for."
    return "The caller answered: " + "; ".join(f"{k}: {v}" for k, v in slots.items()) + "."


def transcript_text(state: CallState) -> str:
    return "\n".join(f"{line.role}: {line.text}" for line in state.transcript)


async def ask(model: llm.LLM, instructions: str, transcript: str) -> str:
    chat = llm.ChatContext()
    chat.add_message(role="system", content=instructions)
    chat.add_message(role="user", content=transcript or "(the caller said nothing)")
    parts: list[str] = []
    async with model.chat(chat_ctx=chat) as stream:
        async for chunk in stream:
            if chunk.delta and chunk.delta.content:
                parts.append(chunk.delta.content)
    return "".join(parts)


async def extract(model: llm.LLM, fields: dict[str, JsonType], transcript: str) -> dict[str, Any]:
    listing = "\n".join(f"- {name} ({kind})" for name, kind in fields.items())
    answer = await ask(model, EXTRACT_PROMPT.format(fields=listing), transcript)
    try:
        data = json.loads(_FENCE.sub("", answer.strip()))
    except json.JSONDecodeError as err:
        raise ValueError(f"the model's answer is not JSON: {answer[:80]!r}") from err
    if not isinstance(data, dict):
        raise ValueError("the model's answer is not a JSON object")
    return {name: coerce(data.get(name), kind) for name, kind in fields.items()}


def coerce(value: Any, kind: JsonType) -> Any:
    """`value` as the declared JSON type, or None when it cannot be one."""
    if value is None:
        return None
    try:
        if kind == "string":
            return str(value)
        if kind == "boolean":
            return value if isinstance(value, bool) else str(value).lower() in {"true", "yes"}
        if kind == "integer":
            return int(value)
        return float(value)
    except (TypeError, ValueError):
        return None
