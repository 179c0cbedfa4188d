"""Hand-offs inside a call (persona `handoff:`): a triage persona passes the caller to a
specialist, who takes over the same call with its own prompt, voice, model and tools.

Each target is one function tool (`handoff_to_<persona>`, its `when` the description the LLM
reads; a flow step with `handoff: <persona>` calls it). The tool returns the new persona's
agent, built by `agent_for` like the first one (guard, MCP tools, its own hand-offs), and
livekit's AgentSession swaps agents in the running call. What the new persona is told of the
call so far is the source persona's `handoff_context`: the conversation itself (`full`) or a
summary of it (`summary`). A flow persona takes over with its own steps from the start: it
only ever answers what is said to it. The call record keeps each persona's part.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Literal

from livekit.agents import Agent, RunContext, ToolError, function_tool, llm

from dialroom.calls import PersonaPart
from dialroom.last_good import CallPersona
from dialroom.persona import Handoff, Persona, PersonaError, load_persona, read_prompt
from worker.call_state import CallState
from worker.flow import reply_to
from worker.post_call import ask, flow_summary, transcript_text
from worker.providers import ProviderConfigError, build_llm, check_keys
from worker.providers.flow_llm import handoff_tool
from worker.settings import ProviderKeys, WorkerSettings

logger = logging.getLogger("dialroom.worker.handoff")
SUMMARY_TIMEOUT_S = 5.0  # the caller waits in silence while the summary is written
SUMMARY_PROMPT = (
    "Summarise this phone call so far for a colleague who takes it over now, in at most "
    "three sentences: who is calling, what they want, and what has been settled."
)
KEPT_LINES = 8  # a summary that could not be written: the last lines of the transcript


def handoff_tools(
    persona: Persona, state: CallState, variables: Mapping[str, str]
) -> list[llm.Tool]:
    """One tool per persona `persona` may hand the caller to."""
    return [_tool(persona, target, state, variables) for target in persona.handoff]


def _tool(
    source: Persona, target: Handoff, state: CallState, variables: Mapping[str, str]
) -> llm.FunctionTool:
    async def hand_over(ctx: RunContext[CallState]) -> Agent:
        ctx.disallow_interruptions()
        await ctx.wait_for_playout()  # the source's last words are its own, said in its voice
        loaded = _load(target.persona)
        old = ctx.session.current_agent
        agent = _agent_for(loaded, state, _variables_for(loaded.persona, source, variables))
        if loaded.persona.llm.provider != "flow":
            await agent.update_chat_ctx(await carried(source, old.chat_ctx, state))
        took_over(state, source.name, loaded.persona.name, source.handoff_context)
        logger.info("call %s handed from %s to %s", state.call_id, source.name, target.persona)
        return agent

    description = target.when or f"Hand the caller to the {target.persona} persona."
    return function_tool(hand_over, name=handoff_tool(target.persona), description=description)


def _load(name: str) -> CallPersona:
    """The target persona as its file stands; a broken one leaves the caller where they are."""
    settings = WorkerSettings()
    try:
        persona = load_persona(
            name, agents_dir=settings.agents_dir, prompts_dir=settings.prompts_dir
        )
        check_keys(persona, ProviderKeys())
        return CallPersona(persona=persona, prompt=read_prompt(persona, settings.prompts_dir))
    except (PersonaError, ProviderConfigError) as err:
        logger.error("hand-off to %s refused: %s", name, err)
        raise ToolError(
            "That colleague cannot take the call now; help the caller yourself."
        ) from err


def _agent_for(loaded: CallPersona, state: CallState, variables: dict[str, str]) -> Agent:
    from worker.persona_agent import CallVariables, agent_for  # it imports this module

    return agent_for(loaded, state, None, CallVariables(variables), own_voice=True)


def _variables_for(
    target: Persona, source: Persona, variables: Mapping[str, str]
) -> dict[str, str]:
    """The call's variables for the target: its own declared defaults, overridden by what the
    call set (headers, the API request) but not by the source persona's defaults."""
    own = {
        name: value
        for name, value in variables.items()
        if source.variables.get(name) != value or name not in target.variables
    }
    return {**target.variables, **own, "persona": target.name}


async def carried(source: Persona, chat_ctx: llm.ChatContext, state: CallState) -> llm.ChatContext:
    """What the next persona is told: the conversation (without the source's instructions and
    tool calls, which are not its own), or a summary of it."""
    told = llm.ChatContext()
    if source.handoff_context == "full":
        told = chat_ctx.copy(
            exclude_function_call=True,
            exclude_instructions=True,
            exclude_handoff=True,
            exclude_config_update=True,
            exclude_empty_message=True,
        )
        note = f"You take over this call from {source.name}; the conversation so far is above."
    else:
        note = f"You take over this call from {source.name}. So far: {await summary(source, state)}"
    told.add_message(role="system", content=note)
    return told


async def summary(source: Persona, state: CallState) -> str:
    """A flow says what it collected; a model is asked; failing that, the last few lines."""
    if source.llm.provider == "flow":
        turns = [line.text for line in state.transcript if line.role == "caller"]
        return flow_summary(reply_to(source.flow, turns).slots)
    try:
        async with asyncio.timeout(SUMMARY_TIMEOUT_S):
            text = (await ask(build_llm(source), SUMMARY_PROMPT, transcript_text(state))).strip()
        if text:
            return text
    except Exception as err:  # the hand-off goes on with the transcript instead
        logger.warning("call %s: hand-off summary failed: %s", state.call_id, err)
    lines = state.transcript[-KEPT_LINES:]
    return " ".join(f"{line.role}: {line.text}" for line in lines) or "nothing said yet"


def took_over(
    state: CallState, source: str, target: str, context: Literal["full", "summary"]
) -> None:
    """Note the hand-off in the call record: the first persona's part, from 0 s, the first
    time; its transcript lines are tagged with it; later lines with whoever speaks then."""
    if not state.parts:
        state.parts.append(PersonaPart(persona=source, from_s=0.0))
        state.transcript[:] = [
            line.model_copy(update={"persona": source}) for line in state.transcript
        ]
    began = state.answered_at or state.started_at
    at = round(max(0.0, time.time() - began), 2)
    state.parts.append(PersonaPart(persona=target, from_s=at, context=context))
