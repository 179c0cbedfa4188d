"""The deterministic dialogue: replies follow from what the caller said, and it hangs up."""

from __future__ import annotations

import pytest
from livekit.agents import Agent, AgentSession, ToolError, function_tool
from livekit.agents.beta import EndCallTool
from livekit.agents.voice.run_result import mock_tools
from pydantic import ValidationError

from dialroom.persona import FlowStep, Persona, TransferTool, load_persona
from worker.flow import match_choice, reply_to
from worker.providers.flow_llm import FlowLLM
from worker.tools.dtmf import keypad_tools, keypad_turn

DEMO = load_persona("demo")


def test_choice_matching_is_by_whole_words() -> None:
    assert match_choice("Tuesday, please!", ["monday", "tuesday"]) == "tuesday"
    assert match_choice("any sunday-ish day", ["sunday"]) == "sunday"
    assert match_choice("I'm free", ["free time"]) is None
    assert match_choice("some free time", ["free time"]) == "free time"


def test_a_recognised_answer_is_confirmed_and_ends_the_call() -> None:
    reply = reply_to(DEMO.flow, ["I'd like to come in on Tuesday please"])
    assert reply.text == "Great, I have you down for tuesday. Thank you for calling, goodbye!"
    assert reply.end_call and reply.slots == {"day": "tuesday"}


def test_an_unrecognised_answer_gets_the_retry_then_can_succeed() -> None:
    first = reply_to(DEMO.flow, ["hmm, not sure"])
    assert first.text == DEMO.flow[0].retry and not first.end_call
    second = reply_to(DEMO.flow, ["hmm, not sure", "friday then"])
    assert "friday" in second.text and second.end_call


def test_the_same_turns_always_give_the_same_reply() -> None:
    turns = ["no idea", "saturday"]
    assert reply_to(DEMO.flow, turns) == reply_to(DEMO.flow, turns)


class _DemoAgent(Agent):
    def __init__(self) -> None:
        super().__init__(
            instructions="demo", tools=[EndCallTool(end_instructions=None, delete_room=False)]
        )


@pytest.mark.asyncio
async def test_flow_llm_speaks_and_calls_end_call_inside_a_real_agent_session() -> None:
    async with AgentSession(llm=FlowLLM(steps=DEMO.flow)) as session:
        await session.start(_DemoAgent())
        result = await session.run(user_input="Wednesday works for me")
        messages = [e.item for e in result.events if e.type == "message"]
        assert any("wednesday" in (m.text_content or "") for m in messages)
        result.expect.contains_function_call(name="end_call")


KEYPAD = Persona.model_validate(
    {
        "name": "keypad",
        "stt": {"provider": "local"},
        "llm": {"provider": "flow"},
        "tts": {"provider": "local"},
        "greeting": {"inbound": "Press one for sales or two for support."},
        "tools": {"dtmf": True, "transfer": {"to": "sip:desk@127.0.0.1:5099"}},
        "flow": [
            {"collect": "team", "choices": ["1", "2"]},
            {"say": "Option {team}. Your code follows.", "send_dtmf": "42#"},
            {"say": "Goodbye.", "end_call": True},
            {"say": "never said"},
        ],
    }
)


def test_keys_pressed_answer_a_collect_step_by_digit() -> None:
    reply = reply_to(KEYPAD.flow, [keypad_turn("2")])
    assert reply.text == "Option 2. Your code follows. Goodbye."
    assert reply.send_dtmf == "42#" and reply.end_call and not reply.transfer


def test_a_transfer_step_ends_the_flow_with_a_transfer() -> None:
    steps = (
        FlowStep(collect="want", choices=("operator",)),
        FlowStep(say="One moment.", transfer=True),
    )
    reply = reply_to(steps, ["the operator please"])
    assert reply.text == "One moment." and reply.transfer and not reply.end_call
    assert reply_to(steps, ["the operator please", "hello?"]).end_call


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ({"collect": "x", "choices": ["a"], "transfer": True}, "go on a `say` step"),
        ({"say": "hi", "send_dtmf": "12x"}, "should match pattern"),
    ],
)
def test_flow_actions_are_checked(step: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        FlowStep.model_validate(step)


@pytest.mark.parametrize(
    ("tools", "problem"),
    [
        ({"dtmf": True}, "`tools.transfer` is not set"),
        ({"transfer": {"to": "tel:+15551230000"}}, "`tools.dtmf` is not true"),
    ],
)
def test_flow_actions_need_their_tools(tools: dict[str, object], problem: str) -> None:
    data = KEYPAD.model_dump()
    data["tools"] = tools
    data["flow"] = [*data["flow"][:2], {"say": "Bye.", "transfer": True}]
    with pytest.raises(ValidationError, match=problem):
        Persona.model_validate(data)


class _KeypadAgent(Agent):
    def __init__(self) -> None:
        tools = [*keypad_tools(), EndCallTool(end_instructions=None, delete_room=False)]
        super().__init__(instructions="keypad", tools=tools)


@pytest.mark.asyncio
async def test_flow_llm_presses_keys_then_hangs_up_and_says_nothing_after_tools() -> None:
    async with AgentSession(llm=FlowLLM(steps=KEYPAD.flow)) as session:
        await session.start(_KeypadAgent())
        with mock_tools(_KeypadAgent, {"send_dtmf": lambda ctx, keys: "sent"}):
            result = await session.run(user_input=keypad_turn("1"))
        result.expect.next_event().is_message(role="assistant")
        result.expect.next_event().is_function_call(name="send_dtmf", arguments={"keys": "42#"})
        result.expect.next_event().is_function_call(name="end_call")
        result.expect.skip_next_event_if(type="function_call_output")
        result.expect.skip_next_event_if(type="function_call_output")
        result.expect.no_more_events()


def test_warm_transfer_dials_a_number_through_the_outbound_trunk() -> None:
    assert TransferTool(to="tel:+15551230000", warm=True).warm
    with pytest.raises(ValidationError, match="use tel:"):
        TransferTool(to="sip:desk@pbx.example.com", warm=True)


class _TransferAgent(Agent):
    """A transfer nobody takes (the framework hands the ToolError back to the LLM)."""

    def __init__(self) -> None:
        super().__init__(
            instructions="transfer", tools=[EndCallTool(end_instructions=None, delete_room=False)]
        )

    @function_tool
    async def transfer_call(self) -> str:
        """Transfer the caller."""
        raise ToolError("the human declined the call")


TRANSFERRING = [
    FlowStep(collect="want", choices=("operator",)),
    FlowStep(say="Please hold.", transfer=True),
]


@pytest.mark.asyncio
async def test_a_failed_transfer_is_apologised_for_and_hung_up_not_left_silent() -> None:
    model = FlowLLM(steps=TRANSFERRING, unavailable="Nobody can take your call.")
    async with AgentSession(llm=model) as session:
        await session.start(_TransferAgent())
        result = await session.run(user_input="the operator please")
        result.expect.next_event().is_message(role="assistant")
        result.expect.next_event().is_function_call(name="transfer_call")
        result.expect.next_event().is_function_call_output(is_error=True)
        apology = result.expect.next_event().is_message(role="assistant").event().item
        assert apology.text_content == "Nobody can take your call."
        result.expect.next_event().is_function_call(name="end_call")
