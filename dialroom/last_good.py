"""Which persona a call gets: the file as it is now, or, if an edit broke it, the last good
version. Each call runs in its own process, so the last good version lives in Redis where
every call process of every worker finds it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from dialroom.paths import AGENTS_DIR, PROMPTS_DIR
from dialroom.persona import Persona, PersonaError, load_persona, read_prompt

logger = logging.getLogger("dialroom.personas")
LAST_GOOD_KEY = "dialroom:persona:last-good:{name}"


@dataclass(frozen=True)
class CallPersona:
    persona: Persona
    prompt: str


async def persona_for_call(
    name: str, redis: Redis, *, agents_dir: Path = AGENTS_DIR, prompts_dir: Path = PROMPTS_DIR
) -> CallPersona:
    """Load `name` fresh from disk (so edits apply to the next call); fall back to the last
    good version when the file is broken; raise PersonaError when there never was one."""
    key = LAST_GOOD_KEY.format(name=name)
    try:
        persona = load_persona(name, agents_dir=agents_dir, prompts_dir=prompts_dir)
        loaded = CallPersona(persona=persona, prompt=read_prompt(persona, prompts_dir))
    except PersonaError as err:
        raw = await redis.get(key)
        if raw is None:
            raise
        logger.warning("%s (serving the last good version of '%s')", err, name)
        data = json.loads(raw)
        return CallPersona(persona=Persona.model_validate(data["persona"]), prompt=data["prompt"])
    snapshot = {"persona": persona.model_dump(mode="json"), "prompt": loaded.prompt}
    await redis.set(key, json.dumps(snapshot))
    return loaded
