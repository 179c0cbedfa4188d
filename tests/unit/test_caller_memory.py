"""`{caller_memory}`: a call variable with the notes of the caller's earlier calls, usable
only by a persona that keeps them, and the note the archiver keeps of a call."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dialroom.calls import CallRecord
from dialroom.history.live import from_record
from dialroom.history.memory import DAY_S, note_of
from dialroom.persona import PersonaError, load_persona
from dialroom.templates import fill
from worker.call_state import CallState
from worker.persona_agent import call_variables

pytestmark = pytest.mark.unit

FLOW = {
    "stt": {"provider": "local"},
    "llm": {"provider": "flow"},
    "tts": {"provider": "local"},
    "greeting": {"inbound": "Hello again. Last time: {caller_memory}"},
    "flow": [{"collect": "day", "choices": ["tuesday"]}],
}


def write(agents: Path, **fields: object) -> Path:
    (agents / "desk.yaml").write_text(yaml.safe_dump({**FLOW, **fields}))
    return agents


def test_caller_memory_is_refused_where_the_persona_keeps_none(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match=r"greeting.inbound: \{caller_memory\} needs `memory"):
        load_persona("desk", agents_dir=write(tmp_path))
    persona = load_persona("desk", agents_dir=write(tmp_path, memory={"keep_days": 7}))
    assert persona.memory is not None and persona.memory.keep_days == 7


def test_caller_memory_cannot_be_declared_as_a_variable(tmp_path: Path) -> None:
    agents = write(tmp_path, memory={}, variables={"caller_memory": "x"})
    with pytest.raises(PersonaError, match="set by every call"):
        load_persona("desk", agents_dir=agents)


def test_the_variable_holds_the_notes_read_at_call_start_or_nothing(tmp_path: Path) -> None:
    persona = load_persona("desk", agents_dir=write(tmp_path, memory={}))
    state = CallState(call_id="c1", persona="desk", direction="inbound", room="r")
    assert call_variables(persona, state, None)["caller_memory"] == ""
    state.caller_memory = "- 2026-12-01 (desk): booked tuesday."
    greeting = fill(persona.greeting.inbound, call_variables(persona, state, None))
    assert greeting == "Hello again. Last time: - 2026-12-01 (desk): booked tuesday."


def _record(**more: object) -> CallRecord:
    fields: dict[str, object] = {
        "call_id": "c-note",
        "persona": "desk",
        "direction": "outbound",
        "room": "r",
        "caller_number": "+15550001111",
        "called_number": "+14155550123",
        "started_at": 1000.0,
        "ended_at": 1060.0,
        "outcome": "agent_hung_up",
        "summary": "Booked for Tuesday.",
        "extracted": {"day": "tuesday", "time": None},
        "memory_keep_days": 2,
    }
    return CallRecord.model_validate({**fields, **more})


def test_the_note_is_the_summary_and_fields_on_the_other_partys_number() -> None:
    note = note_of(from_record(_record()))
    assert note is not None and note.number == "+14155550123"  # outbound: the callee
    assert note.note == "Booked for Tuesday. Fields: day=tuesday."
    assert note.expires_at == 1060.0 + 2 * DAY_S
    assert note_of(from_record(_record(memory_keep_days=None))) is None
    assert note_of(from_record(_record(summary=None, extracted={}))) is None


def test_the_record_asks_to_keep_a_note_only_for_a_persona_with_memory(tmp_path: Path) -> None:
    persona = load_persona("desk", agents_dir=write(tmp_path, memory={"keep_days": 5}))
    state = CallState(call_id="c2", persona="desk", direction="inbound", room="r")
    state.caller_number, state.config = "+14155550123", persona
    assert state.record().memory_keep_days == 5
    state.config = persona.model_copy(update={"memory": None})
    assert state.record().memory_keep_days is None
