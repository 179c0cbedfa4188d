"""The deterministic dialogue: replies follow from what the caller said, and it hangs up."""

from __future__ import annotations

import pytest
from livekit.agents import Agent, AgentSession
from livekit.agents.beta import EndCallTool

from dialroom.persona import load_persona
from worker.flow import match_choice, reply_to
from worker.providers.flow_llm import FlowLLM

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
