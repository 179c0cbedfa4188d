"""Hand-offs inside a call: the persona checks, the flow step, and a real AgentSession in
which the triage persona hands the caller to the booking persona, who answers with its own
greeting and steps while the call record keeps each persona's part."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit.agents import AgentSession, ChatContext, ConversationItemAddedEvent, utils
from livekit.agents.llm import FunctionCall
from livekit.agents.testing import fake_job_context
from typer.testing import CliRunner

from dialroom.last_good import CallPersona
from dialroom.persona import PersonaError, load_persona, read_prompt
from start import app
from tests.support.handoff_personas import BOOKING_GREETING, PUT_THROUGH, write_personas
from worker.call_state import CallState
from worker.flow import reply_to
from worker.handoff import carried
from worker.persona_agent import agent_for, call_variables

pytestmark = pytest.mark.unit


@pytest.fixture
def agents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGENTS_DIR", str(tmp_path))  # where the worker finds hand-off targets
    return write_personas(tmp_path)


def test_personas_check_rejects_an_unknown_handoff_target(agents: Path) -> None:
    triage = (agents / "triage.yaml").read_text()
    (agents / "triage.yaml").write_text(triage.replace("booking", "bookng"))
    with pytest.raises(PersonaError) as caught:
        load_persona("triage", agents_dir=agents)
    message = str(caught.value)
    assert message.startswith("triage.yaml: handoff.0.persona: unknown persona `bookng`"), message
    result = CliRunner().invoke(app, ["personas", "check", "--agents-dir", str(agents)])
    assert result.exit_code == 1 and "bookng" in result.output, result.output


def test_a_flow_step_hands_off_only_to_a_listed_persona(agents: Path) -> None:
    triage = (agents / "triage.yaml").read_text()
    (agents / "triage.yaml").write_text(triage.replace("handoff: booking", "handoff: billing"))
    with pytest.raises(PersonaError, match="hands off to `billing`: list it in handoff"):
        load_persona("triage", agents_dir=agents)


def test_a_persona_cannot_hand_the_caller_to_itself(agents: Path) -> None:
    triage = (agents / "triage.yaml").read_text()
    (agents / "triage.yaml").write_text(triage.replace("booking", "triage"))
    with pytest.raises(PersonaError, match="cannot hand the caller to itself"):
        load_persona("triage", agents_dir=agents)


def test_the_flow_step_names_the_persona_the_call_goes_to(agents: Path) -> None:
    triage = load_persona("triage", agents_dir=agents)
    reply = reply_to(triage.flow, ["I want to book"])
    assert reply.text == PUT_THROUGH and reply.handoff == "booking" and not reply.end_call


async def test_the_booking_persona_takes_over_the_call_in_a_real_session(agents: Path) -> None:
    triage = load_persona("triage", agents_dir=agents)
    state = CallState(call_id="handoff-1", persona="triage", direction="inbound", room="r")
    state.caller_number, state.config = "+14155550123", triage
    loaded = CallPersona(persona=triage, prompt=read_prompt(triage))
    agent = agent_for(loaded, state, None, call_variables(triage, state, None))
    with fake_job_context(job_id=state.call_id):
        async with utils.http_context.open():
            session = AgentSession[CallState](userdata=state)
            session.on("conversation_item_added", lambda ev: _heard(state, ev))
            started = await session.start(agent, capture_run=True)
            await started
            handed = session.run(user_input="Hi, I want to book please")
            await handed
            assert session.current_agent is not agent
            handed.expect.contains_function_call(name="handoff_to_booking")
            handed.expect.contains_agent_handoff(new_agent_type=type(agent))
            said = [e.item.text_content for e in handed.events if e.type == "message"]
            assert said[-2:] == [PUT_THROUGH, BOOKING_GREETING], said
            # the booking flow starts from its own first step: "I want to book" is not a day
            booked = session.run(user_input="Tuesday would be good")
            await booked
            booked.expect.contains_function_call(name="end_call")
            await session.aclose()
    record = state.record()
    assert [(p.persona, p.context) for p in record.personas] == [
        ("triage", None),
        ("booking", "full"),
    ]
    assert record.personas[0].from_s == 0.0 and record.personas[1].from_s >= 0.0
    by_persona = [(line.persona, line.text) for line in record.transcript]
    assert ("triage", PUT_THROUGH) in by_persona
    assert ("booking", BOOKING_GREETING) in by_persona
    assert ("booking", "You are booked for tuesday. Goodbye!") in by_persona


def _heard(state: CallState, ev: ConversationItemAddedEvent) -> None:
    if getattr(ev.item, "type", None) == "message":
        state.heard(ev.item.role, ev.item.text_content or "")  # type: ignore[union-attr]


async def test_full_context_carries_the_conversation_without_instructions_or_tools(
    agents: Path,
) -> None:
    triage = load_persona("triage", agents_dir=agents)
    chat = ChatContext()
    chat.add_message(role="system", content="You are the triage line.")
    chat.add_message(role="assistant", content="Hello, this is the front desk.")
    chat.add_message(role="user", content="I want to book for Tuesday.")
    chat.insert(FunctionCall(call_id="c1", name="handoff_to_booking", arguments="{}"))
    state = CallState(call_id="handoff-2", persona="triage", direction="inbound", room="r")
    told = await carried(triage, chat, state)
    texts = [(m.role, m.text_content) for m in told.messages()]
    assert texts[:2] == [
        ("assistant", "Hello, this is the front desk."),
        ("user", "I want to book for Tuesday."),
    ]
    assert texts[2][0] == "system" and "from triage" in (texts[2][1] or "")
    assert not [i for i in told.items if i.type == "function_call"]


async def test_summary_context_tells_only_what_the_first_persona_settled(agents: Path) -> None:
    triage = load_persona("triage", agents_dir=agents).model_copy(
        update={"handoff_context": "summary"}
    )
    state = CallState(call_id="handoff-3", persona="triage", direction="inbound", room="r")
    state.heard("user", "I want to book an appointment")
    chat = ChatContext()
    chat.add_message(role="user", content="I want to book an appointment")
    told = await carried(triage, chat, state)
    assert [(m.role, m.text_content) for m in told.messages()] == [
        (
            "system",
            "You take over this call from triage. So far: The caller answered: want: book.",
        )
    ]
