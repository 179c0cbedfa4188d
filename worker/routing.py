"""Inbound routing: the persona whose `numbers` include the dialled number, else the default
the dispatch rule carries (the trunk's default), else none: the number is not in service
(`worker.inbound` says so and hangs up).

Only each file's `numbers` is read here. Validating is `persona_for_call`'s job, so a persona
whose latest edit is broken keeps its numbers and is served its last good version, instead of
its callers silently landing on the default persona.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from dialroom.dial import InboundDispatch
from dialroom.persona import SIP_HEADER_PREFIX, available, persona_path

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


def route_inbound(
    called: str | None, *, dispatch: InboundDispatch, fallback: str, agents_dir: Path
) -> str | None:
    """The persona for an inbound call: the one listing the dialled number, else the trunk's
    default (`InboundDispatch.default_persona`), else None (say NOT_IN_SERVICE_MESSAGE and
    hang up)."""
    listed = persona_for_number(called, default="", agents_dir=agents_dir)
    return listed or dispatch.default_persona(fallback)


def header_variables(attributes: Mapping[str, str]) -> dict[str, str]:
    """SIP headers the bridge copied onto the caller (`sip.h.x-customer-id`) as template
    variables (`sip_h_x_customer_id`): lower case, every run of other characters one `_`."""
    return {
        SIP_HEADER_PREFIX
        + re.sub(r"[^a-z0-9]+", "_", name[len(_HEADER_ATTR) :].lower()).strip("_"): value
        for name, value in attributes.items()
        if name.startswith(_HEADER_ATTR)
    }
