"""Inbound routing: the persona whose `numbers` include the dialled number, else the default
the dispatch rule carries (the trunk's default), else a polite "not in service" and hang-up.

Only each file's `numbers` is read here. Validating is `persona_for_call`'s job, so a persona
whose latest edit is broken keeps its numbers and is served its last good version, instead of
its callers silently landing on the default persona.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path

import yaml
from livekit.agents import Agent, AgentSession, JobContext, room_io
from redis.asyncio import Redis

from dialroom.last_good import persona_for_call
from dialroom.persona import SIP_HEADER_PREFIX, PersonaError, available, persona_path
from dialroom.redact import mask_number
from worker.call_state import CallState
from worker.providers import ProviderConfigError, build_tts
from worker.settings import WorkerSettings

logger = logging.getLogger("dialroom.worker")
_HEADER_ATTR = "sip.h."


def persona_for_number(called: str | None, *, default: str, agents_dir: Path) -> str:
    if not called:
        return default
    for name in available(agents_dir):
        if called in _numbers(persona_path(name, agents_dir)):
            return name
    return default


def _numbers(path: Path) -> list[str]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return []  # unreadable: `personas check` reports it; nothing to route on
    numbers = data.get("numbers") if isinstance(data, dict) else None
    return [str(n) for n in numbers] if isinstance(numbers, list) else []


def trunk_default(metadata: str | None, *, fallback: str) -> str | None:
    """The default persona the dispatch rule carries. A rule from `sip/telephony.yaml` marks
    itself with `rule`; without a `persona` it has no default (the number is not in service).
    Any other rule without one (hand-made) gets DEFAULT_PERSONA."""
    try:
        meta = json.loads(metadata or "{}")
    except json.JSONDecodeError:
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    if persona := meta.get("persona"):
        return str(persona)
    return None if "rule" in meta else fallback


def route_inbound(
    called: str | None, *, metadata: str | None, fallback: str, agents_dir: Path
) -> str | None:
    """The persona for an inbound call: the one listing the dialled number, else the trunk's
    default, else None (say NOT_IN_SERVICE_MESSAGE and hang up)."""
    listed = persona_for_number(called, default="", agents_dir=agents_dir)
    return listed or trunk_default(metadata, fallback=fallback)


def header_variables(attributes: Mapping[str, str]) -> dict[str, str]:
    """SIP headers the bridge copied onto the caller (`sip.h.x-customer-id`) as template
    variables (`sip_h_x_customer_id`): lower case, every run of other characters one `_`."""
    return {
        SIP_HEADER_PREFIX
        + re.sub(r"[^a-z0-9]+", "_", name[len(_HEADER_ATTR) :].lower()).strip("_"): value
        for name, value in attributes.items()
        if name.startswith(_HEADER_ATTR)
    }


async def answer_not_in_service(
    ctx: JobContext, state: CallState, redis: Redis, *, identity: str, settings: WorkerSettings
) -> None:
    """Say NOT_IN_SERVICE_MESSAGE in DEFAULT_PERSONA's voice, then hang up."""
    state.persona, state.outcome = "", "not_in_service"
    logger.info("call %s: no persona for %s", state.call_id, mask_number(state.called_number))
    try:
        voice = await persona_for_call(
            settings.default_persona,
            redis,
            agents_dir=settings.agents_dir,
            prompts_dir=settings.prompts_dir,
        )
        tts = build_tts(voice.persona.tts)
    except (PersonaError, ProviderConfigError, ValueError) as err:
        logger.error("call %s: cannot say the not-in-service message: %s", state.call_id, err)
        ctx.delete_room()
        return
    session = AgentSession[CallState](tts=tts, userdata=state)
    await session.start(
        Agent(instructions="Tell the caller this number is not in service."),
        room=ctx.room,
        room_options=room_io.RoomOptions(participant_identity=identity),
    )
    await session.say(settings.not_in_service_message, allow_interruptions=False)
    session.shutdown()
    ctx.delete_room()
