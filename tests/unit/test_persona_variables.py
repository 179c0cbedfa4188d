"""A persona declares the variables API callers and campaigns give it (with defaults);
`personas check` knows them, rejects any other name, and the call fills them everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit.agents import AgentSession
from typer.testing import CliRunner

from dialroom.dial import DialRequest
from dialroom.last_good import CallPersona
from dialroom.persona import Persona, PersonaError, load_persona
from start import app
from worker.call_state import CallState
from worker.flow import reply_to
from worker.persona_agent import agent_for, call_variables
from worker.providers import build_llm
from worker.providers.flow_llm import FlowLLM

pytestmark = pytest.mark.unit

FLOW_PERSONA = """\
stt: {provider: local}
llm: {provider: flow}
tts: {provider: local}
variables: {order: "", appointment_day: soon}
greeting:
  inbound: "Hello, which day?"
  outbound: "Hi {caller_name}, about order {order}: which day {appointment_day}?"
flow:
  - collect: day
    choices: [monday, tuesday]
  - say: "Order {order} goes out on {day}, {caller_name}. Goodbye!"
    end_call: true
"""


def write(folder: Path, text: str, name: str = "shop") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(text)
    return folder


def check(text: str, folder: Path) -> Persona:
    return load_persona("shop", agents_dir=write(folder, text), prompts_dir=folder)


def problem(text: str, folder: Path) -> str:
    with pytest.raises(PersonaError) as caught:
        check(text, folder)
    return str(caught.value)


def test_declared_variables_pass_the_check_with_their_defaults(tmp_path: Path) -> None:
    persona = check(FLOW_PERSONA, tmp_path)
    assert persona.variables == {"order": "", "appointment_day": "soon"}


def test_an_undeclared_variable_in_a_greeting_is_rejected(tmp_path: Path) -> None:
    text = FLOW_PERSONA.replace('variables: {order: "", appointment_day: soon}', "")
    message = problem(text, tmp_path)
    assert message.startswith("shop.yaml: greeting.outbound: unknown variable {appointment_day")
    assert "declared under `variables:`" in message


def test_a_flow_say_with_a_name_nobody_sets_is_rejected(tmp_path: Path) -> None:
    text = FLOW_PERSONA.replace("goes out on {day}", "goes out on {ship_day}")
    message = problem(text, tmp_path)
    assert message.startswith("shop.yaml: flow.1.say: unknown variable {ship_day}"), message


def test_a_flow_say_may_not_use_a_slot_collected_only_later(tmp_path: Path) -> None:
    text = FLOW_PERSONA.replace(
        "flow:\n", 'flow:\n  - collect: first\n    choices: ["yes"]\n  - say: "You chose {day}."\n'
    )
    message = problem(text, tmp_path)
    assert message.startswith("shop.yaml: flow.1.say: unknown variable {day}"), message


def test_a_prompt_may_use_declared_variables_and_sip_headers(tmp_path: Path) -> None:
    (tmp_path / "shop.md").write_text("Order {order}; customer {sip_h_x_customer_id}.")
    llm = FLOW_PERSONA.split("flow:")[0].replace("{provider: flow}", "{provider: openai}")
    persona = check(llm + "prompt: shop.md\n", tmp_path)
    assert persona.prompt == "shop.md"
    (tmp_path / "shop.md").write_text("Order {order}; {account}")
    assert "prompt: unknown variable {account}" in problem(llm + "prompt: shop.md\n", tmp_path)


@pytest.mark.parametrize(
    ("variables", "words"),
    [
        ("{order id: x}", "`order id` is not a {name}"),
        ("{caller_name: there}", "`caller_name` is set by every call"),
        ("{sip_h_x: y}", "`sip_h_x` is set by every call"),
        ("{day: monday}", "`day` is a flow `collect` slot already"),
    ],
)
def test_a_declared_name_must_be_new_and_usable(tmp_path: Path, variables: str, words: str) -> None:
    text = FLOW_PERSONA.replace('{order: "", appointment_day: soon}', variables)
    assert words in problem(text, tmp_path)


def test_a_collect_slot_must_be_a_name(tmp_path: Path) -> None:
    text = FLOW_PERSONA.replace("collect: day", "collect: the day").replace("{day}", "x")
    assert "flow.0.collect" in problem(text, tmp_path)


def request(**variables: str) -> DialRequest:
    return DialRequest(
        call_id="vars-test-1",
        to_number="+14155550123",
        persona="shop",
        caller_name="Sam",
        variables=variables,
    )


def test_api_variables_override_defaults_and_reach_greeting_and_flow(tmp_path: Path) -> None:
    persona = check(FLOW_PERSONA, tmp_path)
    state = CallState(call_id="vars-test-1", persona="shop", direction="outbound", room="r")
    call = request(order="42")
    variables = call_variables(persona, state, call)
    assert variables["order"] == "42" and variables["appointment_day"] == "soon"
    agent = agent_for(CallPersona(persona=persona, prompt=""), state, call, variables)
    assert agent._greeting == "Hi Sam, about order 42: which day soon?"
    assert isinstance(agent.llm, FlowLLM), "the flow speaks with this call's variables"
    said = reply_to(persona.flow, ["tuesday please"], variables)
    assert said.text == "Order 42 goes out on tuesday, Sam. Goodbye!" and said.end_call


async def test_a_flow_persona_speaks_the_call_variables_in_a_real_agent_session(
    tmp_path: Path,
) -> None:
    persona = check(FLOW_PERSONA, tmp_path)
    state = CallState(call_id="vars-test-1", persona="shop", direction="outbound", room="r")
    call = request(order="42")
    agent = agent_for(
        CallPersona(persona=persona, prompt=""), state, call, call_variables(persona, state, call)
    )
    # the session's model is the worker's (build_session): a flow that knows no call variables
    async with AgentSession[CallState](llm=build_llm(persona), userdata=state) as session:
        await session.start(agent)
        result = await session.run(user_input="tuesday please")
        said = result.expect.next_event().is_message(role="assistant").event().item
        assert said.text_content == "Order 42 goes out on tuesday, Sam. Goodbye!"


def test_a_sip_header_the_call_lacks_is_empty_and_a_caller_name_in_a_say_is_filled() -> None:
    persona = load_persona("demo")
    state = CallState(call_id="in-1", persona="demo", direction="inbound", room="r")
    variables = call_variables(persona, state, None, {"sip_h_x_known": "K"})
    assert variables["sip_h_x_missing"] == "" and variables["sip_h_x_known"] == "K"
    with pytest.raises(KeyError):
        variables["not_a_header"]
    steps = persona.flow[:1] + (persona.flow[1].model_copy(update={"say": "Bye {caller_name}"}),)
    named = call_variables(persona, state, request())
    assert reply_to(steps, ["monday"], named).text == "Bye Sam"


def test_personas_list_shows_the_declared_variables() -> None:
    result = CliRunner(env={"COLUMNS": "250"}).invoke(app, ["personas", "list"])
    assert result.exit_code == 0, result.output
    [reminder] = [line for line in result.stdout.splitlines() if " reminder " in line]
    assert "{appointment_day}" in reminder
