"""A flow persona's warm transfer: the human it dialled is briefed, then says yes or no."""

from __future__ import annotations

import pytest
from livekit.agents import Agent, AgentSession, function_tool

from worker.providers.briefing_llm import ASK_AGAIN, BriefingLLM, next_move

BRIEFING = "I have a caller who asked for the operator. Shall I connect them?"


def test_the_human_is_briefed_when_they_answer() -> None:
    assert next_move(BRIEFING, ["Hello, front desk."]) == (BRIEFING, None)


def test_yes_connects_no_declines_anything_else_asks_again() -> None:
    assert next_move(BRIEFING, ["Hello", "Yes, put them through"]) == ("", "connect_to_caller")
    assert next_move(BRIEFING, ["Hello", "No, I'm busy"]) == ("", "decline_transfer")
    assert next_move(BRIEFING, ["Hello", "Who is it?"]) == (ASK_AGAIN, None)


class _Human(Agent):
    """The tools WarmTransferTask gives the briefing session, by the same names."""

    def __init__(self) -> None:
        super().__init__(instructions="brief the human")
        self.connected = False
        self.declined: str | None = None

    @function_tool
    async def connect_to_caller(self) -> None:
        """Called when the human agent wants to connect to the caller."""
        self.connected = True

    @function_tool
    async def decline_transfer(self, reason: str) -> None:
        """The human declines.

        Args:
            reason: why
        """
        self.declined = reason


@pytest.mark.asyncio
async def test_a_briefing_session_connects_once_the_human_agrees() -> None:
    human = _Human()
    async with AgentSession(llm=BriefingLLM(briefing=BRIEFING)) as session:
        await session.start(human)
        first = await session.run(user_input="Hello, this is Sam.")
        said = first.expect.next_event().is_message(role="assistant").event().item
        assert said.text_content == BRIEFING
        first.expect.no_more_events()
        second = await session.run(user_input="Yes, go ahead.")
        second.expect.next_event().is_function_call(name="connect_to_caller")
        second.expect.next_event().is_function_call_output()
        second.expect.no_more_events()
    assert human.connected and human.declined is None


@pytest.mark.asyncio
async def test_a_briefing_session_declines_when_the_human_says_no() -> None:
    human = _Human()
    async with AgentSession(llm=BriefingLLM(briefing=BRIEFING)) as session:
        await session.start(human)
        await session.run(user_input="Hello.")
        result = await session.run(user_input="No, not now.")
        result.expect.next_event().is_function_call(
            name="decline_transfer", arguments={"reason": "No, not now."}
        )
    assert human.declined == "No, not now." and not human.connected
