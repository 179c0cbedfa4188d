"""The worker's side of "don't call me again", on a real Redis: an LLM persona's agent calls
`add_to_do_not_call` in a real AgentSession, the post-call check lists a caller who said it,
and only outbound calls get the tool."""

from __future__ import annotations

import pytest
from livekit.agents import Agent, AgentSession
from livekit.agents.llm.tool_context import get_fnc_tool_names
from redis.asyncio import Redis

from dialroom import dnc
from dialroom.calls import TranscriptLine
from dialroom.persona import load_persona
from tests.support.scripted_llm import ToolThenSayLLM
from worker.call_state import CallState
from worker.tools import tools_for
from worker.tools.do_not_call import TOOL_NAME, after_call, do_not_call_tool

pytestmark = pytest.mark.integration

CALLEE = "+14155550123"


def outbound_state() -> CallState:
    return CallState(
        call_id="call-1",
        persona="demo",
        direction="outbound",
        room="call-call-1",
        caller_number="+14155550100",
        called_number=CALLEE,
    )


async def test_the_agent_lists_the_callee_with_the_tool(redis_url: str, store: Redis) -> None:
    state = outbound_state()
    agent = Agent(instructions="Be polite.", tools=[do_not_call_tool(redis_url)])
    model = ToolThenSayLLM(TOOL_NAME, {})
    async with AgentSession[CallState](llm=model, userdata=state) as session:
        await session.start(agent)
        result = await session.run(user_input="Please don't call me again.")
        result.expect.next_event().is_function_call(name=TOOL_NAME)
        result.expect.next_event().is_function_call_output(is_error=False)
        result.expect.next_event().is_message(role="assistant")
    assert await dnc.is_listed(store, CALLEE)
    entries, _ = await dnc.page(store, offset=0, limit=10)
    assert entries[0].source == "agent listed on call call-1"


async def test_a_caller_who_said_it_is_listed_after_the_call(redis_url: str, store: Redis) -> None:
    state = outbound_state()
    state.transcript = [
        TranscriptLine(role="agent", text="Hi, this is the clinic.", at=1.0),
        TranscriptLine(role="caller", text="Take me off your list, please.", at=2.0),
    ]
    async with Redis.from_url(redis_url) as worker_redis:  # bytes replies, like the worker's
        await after_call(state, worker_redis)
    assert await dnc.is_listed(store, CALLEE)
    entries, _ = await dnc.page(store, offset=0, limit=10)
    assert entries[0].source == "caller asked on call call-1"


async def test_a_caller_who_did_not_is_not_listed(store: Redis) -> None:
    state = outbound_state()
    state.transcript = [TranscriptLine(role="caller", text="Tuesday works, thanks.", at=2.0)]
    await after_call(state, store)
    assert not await dnc.is_listed(store, CALLEE)


def test_only_outbound_calls_get_the_tool() -> None:
    persona = load_persona("demo")
    inbound = CallState(call_id="c", persona="demo", direction="inbound", room="r")
    outbound_tools = get_fnc_tool_names(tools_for(persona, outbound_state()))  # type: ignore[arg-type]
    inbound_tools = get_fnc_tool_names(tools_for(persona, inbound))  # type: ignore[arg-type]
    assert TOOL_NAME in outbound_tools and TOOL_NAME not in inbound_tools
