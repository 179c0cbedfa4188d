"""Two local flow personas for hand-off tests: a triage line that passes a caller who wants to
book to a booking desk, which takes the day and says goodbye. No model and no cloud: the
hand-off is the only thing that can make the booking desk answer a call to the triage line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

LOCAL = {"stt": {"provider": "local"}, "llm": {"provider": "flow"}, "tts": {"provider": "local"}}
TRIAGE_GREETING = "Hello, this is the front desk. Would you like to book an appointment?"
PUT_THROUGH = "Let me put you through to our booking desk."
BOOKING_GREETING = "Booking desk here. Which day would you like to come in?"
PERSONAS: dict[str, dict[str, Any]] = {
    "triage": {
        "numbers": ["2201"],
        "greeting": {"inbound": TRIAGE_GREETING},
        "handoff": [{"persona": "booking", "when": "The caller wants to book an appointment."}],
        "flow": [
            {"collect": "want", "choices": ["book", "appointment"]},
            {"say": PUT_THROUGH, "handoff": "booking"},
        ],
    },
    "booking": {
        "numbers": ["2202"],
        "greeting": {"inbound": BOOKING_GREETING},
        "flow": [
            {"collect": "day", "choices": ["monday", "tuesday", "friday"]},
            {"say": "You are booked for {day}. Goodbye!", "end_call": True},
        ],
    },
}


def write_personas(agents: Path, **more: dict[str, Any]) -> Path:
    """The two personas (and any `more`, name -> fields) as YAML files in `agents`."""
    for name, persona in {**PERSONAS, **more}.items():
        (agents / f"{name}.yaml").write_text(yaml.safe_dump({**LOCAL, **persona}))
    return agents
