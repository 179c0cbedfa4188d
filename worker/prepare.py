"""Everything a call needs before anyone hears it: the persona (its last good version), the
provider keys it needs, the call's variables, the agent and the session.

Inbound, built right after routing. Outbound, the persona is loaded and its keys checked
before the dial (a persona problem fails the call before a phone rings, instead of after
someone has answered into silence); the agent and session are built while the phone rings
(`worker.dial_out`), ready long before anyone answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from livekit.agents import AgentSession
from redis.asyncio import Redis

from dialroom.dial import DialRequest
from dialroom.last_good import CallPersona, persona_for_call
from dialroom.persona import Persona, PersonaError
from worker.call_state import CallState
from worker.memory import caller_memory
from worker.persona_agent import PersonaAgent, agent_for, call_variables
from worker.providers import ProviderConfigError, check_keys
from worker.session import build_session
from worker.settings import ProviderKeys, WorkerSettings


class CannotStart(Exception):
    """The call cannot go ahead as its persona stands; the message says why."""


@dataclass(frozen=True)
class Prepared:
    persona: Persona
    agent: PersonaAgent
    session: AgentSession[CallState]
    variables: dict[str, str]
    screen: bool  # an outbound call screened for an answering machine before the greeting


async def prepare(
    state: CallState,
    redis: Redis,
    settings: WorkerSettings,
    *,
    request: DialRequest | None,
    sip_variables: dict[str, str] | None = None,
) -> Prepared:
    """The call's agent and session, ready to start; raises CannotStart."""
    loaded = await load(state, redis, settings)
    return await build(loaded, state, settings, request=request, sip_variables=sip_variables)


async def load(state: CallState, redis: Redis, settings: WorkerSettings) -> CallPersona:
    """The call's persona with its provider keys checked: what names a broken persona, in
    milliseconds. An outbound call dials once this passed (`worker.dial_out`)."""
    try:
        loaded = await persona_for_call(
            state.persona, redis, agents_dir=settings.agents_dir, prompts_dir=settings.prompts_dir
        )
        check_keys(loaded.persona, ProviderKeys())
    except (PersonaError, ProviderConfigError, ValueError) as err:
        raise CannotStart(str(err)) from err
    return loaded


async def build(
    loaded: CallPersona,
    state: CallState,
    settings: WorkerSettings,
    *,
    request: DialRequest | None,
    sip_variables: dict[str, str] | None = None,
) -> Prepared:
    """The agent and session of a loaded persona (the caller's memory read on the way, up to
    `worker.memory.RECALL_TIMEOUT_S`); raises CannotStart."""
    persona = loaded.persona
    try:
        screen = request is not None and persona.voicemail is not None
        state.caller_memory = await caller_memory(persona, state, settings.history_url)
        variables = call_variables(persona, state, request, sip_variables)
        agent = agent_for(loaded, state, request, variables, greet_on_enter=not screen)
        session = build_session(persona, state)
        agent.prefetch_greeting(session, persona=persona, cache_root=settings.greeting_cache_root)
    except (PersonaError, ProviderConfigError, ValueError) as err:
        raise CannotStart(str(err)) from err
    state.config = persona
    return Prepared(persona, agent, session, variables, screen)
