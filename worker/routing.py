"""Inbound routing: the persona whose `numbers` include the dialled number, else the default
the dispatch rule carries (the trunk's default).

Only each file's `numbers` is read here. Validating is `persona_for_call`'s job, so a persona
whose latest edit is broken keeps its numbers and is served its last good version, instead of
its callers silently landing on the default persona.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from dialroom.persona import available, persona_path


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
