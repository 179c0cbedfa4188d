"""The agent a call talks to: the persona's prompt, greeting and flow with the call's
variables filled in, and its tools.

A call's variables, lowest precedence first: the defaults the persona declares under
`variables:`, the inbound call's SIP headers, the call's own (`caller_number`, ...), then the
API request's or campaign row's `variables`. They are filled in by `dialroom.templates.fill`,
which only ever replaces `{name}`: nothing in a value or a template is evaluated.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path

from livekit import rtc
from livekit.agents import (
    NOT_GIVEN,
    Agent,
    AgentSession,
    ChatContext,
    ChatMessage,
    ModelSettings,
    StopResponse,
    llm,
    stt,
    tts,
)
from livekit.agents.types import NotGivenOr

from dialroom.dial import DialRequest
from dialroom.last_good import CallPersona
from dialroom.persona import SIP_HEADER_PREFIX, Persona
from dialroom.templates import fill
from worker.call_state import CallState
from worker.greeting import GreetingAudio
from worker.greeting_cache import cacheable
from worker.guard import GuardedAgent, speech_guard
from worker.handoff import handoff_tools
from worker.providers import build_llm, build_stt, build_tts
from worker.tools import tools_for
from worker.tools.mcp import mcp_toolsets


class PersonaAgent(GuardedAgent):
    """Speaks as one persona: its prompt, its greeting, and the end-call tool.

    With `greet_on_enter=False` (an outbound call screened for voicemail) it keeps quiet until
    `greet()`, and what the callee says before that (their "Hello?") gets no reply of its own.
    `prefetch_greeting` has the greeting's audio ready (cached, or synthesized early) by then.
    """

    def __init__(
        self,
        persona: Persona,
        state: CallState,
        *,
        instructions: str,
        greeting: str,
        greeting_cacheable: bool = False,
        greet_on_enter: bool = True,
        model: NotGivenOr[llm.LLM] = NOT_GIVEN,
        voice: NotGivenOr[tts.TTS] = NOT_GIVEN,  # a persona handed the call: its own
        hearing: NotGivenOr[stt.STT] = NOT_GIVEN,
        handoffs: Sequence[llm.Tool] = (),  # worker.handoff: one per persona it may hand to
    ) -> None:
        super().__init__(
            instructions=instructions or f"You are the {persona.name} phone agent.",
            tools=[
                *tools_for(persona, state),
                *mcp_toolsets(persona.tools.mcp, state),
                *handoffs,
            ],
            llm=model,  # NOT_GIVEN: the session's
            tts=voice,
            stt=hearing,
        )
        self.speech_guard = speech_guard(persona.guard, state)  # persona `guard:`
        if self.speech_guard is not None:  # its audio may be made ahead, past `tts_node`
            greeting = self.speech_guard.screen(greeting, record=True)
        self._greeting = greeting
        self._greeting_cacheable = greeting_cacheable  # the same on every call of the persona
        self._greeting_audio: GreetingAudio | None = None
        self._greet_on_enter = greet_on_enter
        self._greeted = False
        self.consent: str | None = None  # a recorded call's notice, said before the greeting

    @property
    def greeting_audio(self) -> GreetingAudio | None:
        return self._greeting_audio

    def prefetch_greeting(
        self, session: AgentSession[CallState], *, persona: Persona, cache_root: Path
    ) -> None:
        """Start getting the greeting's audio now, before the session starts (and, outbound,
        before the dial): from the cache, or from the TTS that will say it."""
        voice = self.tts if isinstance(self.tts, tts.TTS) else session.tts
        if voice is None:
            return
        self._greeting_audio = GreetingAudio(
            self._greeting,
            voice=voice,
            speech=persona.tts,
            cache_root=cache_root if self._greeting_cacheable else None,
            conn_options=session.conn_options.tts_conn_options,
        )
        self._greeting_audio.start()

    async def on_enter(self) -> None:
        if self._greet_on_enter:
            self.greet()

    def greet(self) -> None:
        self._greeted = True
        if self.consent:
            self.session.say(self.consent, allow_interruptions=False)
        audio = self._greeting_audio
        self.session.say(
            self._greeting,
            audio=audio.frames(fallback=self._greeting_live) if audio else NOT_GIVEN,
            allow_interruptions=False,
        )

    def _greeting_live(self) -> AsyncIterable[rtc.AudioFrame]:
        """The greeting through the session's own TTS path (its retries, errors, apology)."""

        async def text() -> AsyncIterator[str]:
            yield self._greeting

        return Agent.default.tts_node(self, text(), ModelSettings())

    async def on_user_turn_completed(self, turn_ctx: ChatContext, new_message: ChatMessage) -> None:
        if not self._greeted:
            raise StopResponse  # the callee's "Hello?": the greeting is the answer


class CallVariables(dict[str, str]):
    """A call's variables; a `{sip_h_...}` header the call does not carry is empty."""

    def __missing__(self, name: str) -> str:
        if name.startswith(SIP_HEADER_PREFIX):
            return ""
        raise KeyError(name)


def call_variables(
    persona: Persona,
    state: CallState,
    request: DialRequest | None,
    sip_variables: dict[str, str] | None = None,
) -> CallVariables:
    """Everything a `{name}` in this call's greeting, prompt, flow or voicemail may refer to."""
    return CallVariables(
        {
            **persona.variables,  # declared defaults
            **(sip_variables or {}),  # {sip_h_...}: the inbound call's SIP headers
            "persona": persona.name,
            "caller_number": state.caller_number or "unknown",
            "called_number": state.called_number or "unknown",
            "caller_name": (request.caller_name if request else None) or "",
            "caller_memory": state.caller_memory or "",  # worker.memory: earlier calls' notes
            **(request.variables if request else {}),
        }
    )


def agent_for(
    loaded: CallPersona,
    state: CallState,
    request: DialRequest | None,
    variables: dict[str, str],
    *,
    greet_on_enter: bool = True,
    own_voice: bool = False,
) -> PersonaAgent:
    """The persona's agent for this call; `own_voice`: with its own STT, LLM and TTS, not
    the session's (a persona the call was handed to, `worker.handoff`)."""
    persona = loaded.persona
    greeting = persona.greeting.inbound
    if request is not None:
        greeting = request.greeting or persona.greeting.outbound or greeting
    # a persona's own greeting without variables is cached on disk; an API call's is not
    own_greeting = request is None or not request.greeting
    instructions = loaded.prompt
    if request is not None and request.llm_prompt:
        instructions += "\n\n" + request.llm_prompt
    # a flow says its steps with this call's variables; an LLM reads them in its instructions
    flow = build_llm(persona, variables=variables) if persona.llm.provider == "flow" else None
    return PersonaAgent(
        persona,
        state,
        instructions=fill(instructions, variables),
        greeting=fill(greeting, variables),
        greeting_cacheable=own_greeting and cacheable(greeting),
        greet_on_enter=greet_on_enter,
        model=flow or (build_llm(persona) if own_voice else NOT_GIVEN),
        voice=build_tts(persona.tts) if own_voice else NOT_GIVEN,
        hearing=build_stt(persona.stt) if own_voice else NOT_GIVEN,
        handoffs=handoff_tools(persona, state, variables),
    )
