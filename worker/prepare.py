"""Everything a call needs before anyone hears it: the persona (its last good version), the
provider keys it needs, the call's variables, the agent and the session.

Built before the dial (and, inbound, right after routing): a persona problem fails the call
before a phone rings, instead of after someone has answered into silence.
"""

from __future__ import annotations

from dataclasses import dataclass

from livekit.agents import AgentSession
from redis.asyncio import Redis

from dialroom.dial import DialRequest
from dialroom.last_good import persona_for_call
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
    try:
        loaded = await persona_for_call(
            state.persona, redis, agents_dir=settings.agents_dir, prompts_dir=settings.prompts_dir
        )
        persona = loaded.persona
        check_keys(persona, ProviderKeys())
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
