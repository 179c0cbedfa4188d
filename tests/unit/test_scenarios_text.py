"""Every scenario file in text mode, and `start.py chat`: a persona's real AgentSession with
its real LLM and tools, minus audio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from livekit.agents import function_tool
from livekit.agents.testing import fake_job_context
from typer.testing import CliRunner

from callcheck.scenario import Outcome, Scenario, check, load_scenario
from dialroom.persona import load_persona
from start import app
from tests.support.scenarios import run_text, scenario_files
from tests.support.scripted_llm import ToolThenSayLLM
from worker.call_state import CallState
from worker.chat import CANNED_ANSWER, ChatSession, load_chat_persona
from worker.persona_agent import PersonaAgent
from worker.providers import ProviderConfigError

pytestmark = pytest.mark.unit
SCENARIOS = scenario_files()


def test_there_are_scenarios_for_the_demo_and_a_test_persona() -> None:
    personas = {load_scenario(path).persona for path in SCENARIOS}
    assert {"demo", "survey"} <= personas


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_scenario_passes_in_text_mode(path: Path) -> None:
    scenario = load_scenario(path)
    outcome = await run_text(scenario)
    assert check(scenario, outcome) == []


async def test_a_scenario_that_expects_the_wrong_thing_fails_with_each_reason() -> None:
    right = load_scenario(Path("tests/scenarios/demo_books_tuesday.yaml"))
    wrong = right.model_copy(
        update={
            "greeting": ("survey",),
            "turns": (right.turns[0].model_copy(update={"heard": ("monday",), "tools": ()}),),
            "tools": ("transfer_call",),
            "hangs_up": False,
        }
    )
    problems = check(wrong, await run_text(wrong))
    assert len(problems) == 5, problems
    assert "greeting lacks ['survey']" in problems[0]
    assert "reply to line 1 lacks ['monday']" in problems[1]
    assert "line 1: tools ['end_call'], expected []" in problems[2]
    assert "never called ['transfer_call']" in problems[3]
    assert problems[4] == "the agent hung up"


def test_a_call_that_ends_early_misses_the_remaining_lines() -> None:
    scenario = Scenario.model_validate(
        {"persona": "demo", "turns": [{"say": "tuesday"}, {"say": "and friday"}]}
    )
    outcome = Outcome(greeting="hello", replies=["goodbye"], tools=[("end_call",)], hung_up=True)
    assert check(scenario, outcome) == ["the call ended before line 2 ('and friday')"]


def test_expected_words_match_whole_words_ignoring_case_and_punctuation() -> None:
    scenario = Scenario.model_validate(
        {"persona": "demo", "turns": [{"say": "x", "heard": ["which day", "TUESDAY"]}]}
    )
    heard = Outcome(greeting="", replies=["Tuesday! Which day, then?"])
    assert check(scenario, heard) == []
    partial = Outcome(greeting="", replies=["Tuesdays. Which days?"])
    assert len(check(scenario, partial)) == 1


class _OrderAgent(PersonaAgent):
    real_lookups: list[str] = []

    @function_tool
    async def lookup_order(self, order: str) -> str:
        """Look an order up.

        Args:
            order: the order number
        """
        self.real_lookups.append(order)
        return f"order {order} is real"


async def _ask_about_an_order(mocks: dict[str, str] | None) -> str:
    demo = load_persona("demo")
    state = CallState(call_id="t", persona="demo", direction="inbound", room="chat")
    agent = _OrderAgent(demo, state, instructions="", greeting="Hello.")
    with fake_job_context():
        model = ToolThenSayLLM("lookup_order", {"order": "42"})
        chat = ChatSession(agent=agent, model=model, state=state, mocks=mocks)
        await chat.greet()
        reply = await chat.send("where is my order?")
        await chat.aclose()
    (tool,) = reply.tools
    assert tool.name == "lookup_order" and json.loads(tool.arguments) == {"order": "42"}
    assert reply.text == f"Tool said: {tool.output}"
    return tool.output


async def test_tools_are_real_by_default_and_canned_with_mocks() -> None:
    _OrderAgent.real_lookups.clear()
    assert await _ask_about_an_order(None) == "order 42 is real"
    assert _OrderAgent.real_lookups == ["42"]
    assert await _ask_about_an_order({}) == CANNED_ANSWER
    assert await _ask_about_an_order({"lookup_order": "ships Friday"}) == "ships Friday"
    assert _OrderAgent.real_lookups == ["42"], "a mocked tool must not run"


def test_an_openai_persona_without_its_key_names_only_the_llm_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "AZURE_SPEECH_KEY", "AZURE_SPEECH_REGION"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ProviderConfigError) as err:
        load_chat_persona("receptionist")
    assert "needs OPENAI_API_KEY:" in str(err.value)
    assert "AZURE" not in str(err.value), "a text chat uses no speech provider"


def test_chat_command_greets_answers_shows_the_tool_and_ends_when_the_agent_hangs_up() -> None:
    result = CliRunner().invoke(app, ["chat", "demo"], input="not sure\nTuesday please\n")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # rich wraps long lines at the terminal width
    assert out.index("Which day of the week would you like") < out.index("didn't catch a day")
    assert out.index("didn't catch a day") < out.index("have you down for tuesday")
    assert "⚙ end_call({})" in out
    assert out.endswith("demo ended the call.")


def test_chat_command_stops_on_quit_and_on_end_of_input() -> None:
    quit_ = CliRunner().invoke(app, ["chat", "demo"], input="/quit\nTuesday\n")
    assert quit_.exit_code == 0 and "tuesday" not in quit_.output.lower()
    eof = CliRunner().invoke(app, ["chat", "demo"], input="")
    assert eof.exit_code == 0 and "Which day" in " ".join(eof.output.split())


def test_chat_command_runs_a_scenario_file() -> None:
    result = CliRunner().invoke(
        app, ["chat", "--scenario", "tests/scenarios/survey_two_answers.yaml"]
    )
    assert result.exit_code == 0, result.output
    assert "passed survey_two_answers.yaml" in result.output
