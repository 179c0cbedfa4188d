"""Post-call for a `flow` persona: the summary is a fixed sentence over the collected slots
and `extract` returns those slots by name, typed as declared."""

from __future__ import annotations

from typing import Any

from dialroom.persona import Persona, load_persona
from worker import post_call
from worker.call_state import CallState


def demo_with(post: dict[str, Any]) -> Persona:
    demo = load_persona("demo").model_dump()
    return Persona.model_validate({**demo, "post_call": post})


def call_where_caller_said(*lines: str) -> CallState:
    state = CallState(call_id="c", persona="demo", direction="inbound", room="r")
    state.heard("assistant", "Which day of the week would you like to come in?")
    for line in lines:
        state.heard("user", line)
    return state


async def test_flow_summary_and_extract_are_the_collected_slots() -> None:
    persona = demo_with({"summary": True, "extract": {"day": "string", "name": "string"}})
    state = call_where_caller_said("um, no idea", "Tuesday please")
    await post_call.summarize(state, persona)
    assert state.summary == "The caller answered: day: tuesday."
    assert state.extracted == {"day": "tuesday", "name": None}
    record = state.record()
    assert record.summary == state.summary and record.extracted == state.extracted


async def test_a_flow_that_collected_nothing_says_so() -> None:
    persona = demo_with({"summary": True})
    state = call_where_caller_said("hello?")
    await post_call.summarize(state, persona)
    assert state.summary == "The caller gave none of the answers the flow asks for."
    assert state.extracted == {}


async def test_no_post_call_section_leaves_the_record_without_them() -> None:
    state = call_where_caller_said("Friday")
    await post_call.summarize(state, load_persona("demo"))
    assert state.summary is None and state.extracted == {}


def test_values_are_coerced_to_the_declared_json_type() -> None:
    assert post_call.coerce("3", "integer") == 3
    assert post_call.coerce("2.5", "number") == 2.5
    assert post_call.coerce("yes", "boolean") is True
    assert post_call.coerce("many", "integer") is None
    assert post_call.coerce(None, "string") is None
