"""A scenario in text mode: the persona's real AgentSession with no audio, the same session
as `python start.py chat`; tool calls are visible, so they are checked turn by turn."""

from __future__ import annotations

from pathlib import Path

from callcheck.scenario import Outcome, Scenario
from worker.chat import open_chat


async def run_text(scenario: Scenario, *, agents_dir: Path) -> Outcome:
    """Talk the scenario through the persona's real session, text only."""
    async with open_chat(scenario.persona, mocks=scenario.mocks, agents_dir=agents_dir) as chat:
        greeting = await chat.greet()
        outcome = Outcome(greeting=greeting.text, tools=[])
        for turn in scenario.turns:
            if chat.ended:
                break
            reply = await chat.send(turn.say)
            outcome.replies.append(reply.text)
            assert outcome.tools is not None
            outcome.tools.append(tuple(tool.name for tool in reply.tools))
        outcome.hung_up = chat.ended
    outcome.heard = " ".join([outcome.greeting, *outcome.replies])
    return outcome
