"""Inbound routing: the persona whose `numbers` include the dialled number, else the default
the dispatch rule carries (the trunk's default)."""

from __future__ import annotations

from pathlib import Path

from dialroom.persona import PersonaError, available, load_persona


def persona_for_number(called: str | None, *, default: str, agents_dir: Path) -> str:
    if not called:
        return default
    for name in available(agents_dir):
        try:
            persona = load_persona(name, agents_dir=agents_dir)
        except PersonaError:
            continue  # a broken persona is reported by `personas check`, not routed to
        if called in persona.numbers:
            return name
    return default
