"""The agent a call talks to: the persona's prompt, greeting and flow with the call's
variables filled in, and its tools.

A call's variables, lowest precedence first: the defaults the persona declares under
`variables:`, the inbound call's SIP headers, the call's own (`caller_number`, ...), then the
API request's or campaign row's `variables`. They are filled in by `dialroom.templates.fill`,
which only ever replaces `{name}`: nothing in a value or a template is evaluated.
"""

from __future__ import annotations

from livekit.agents import NOT_GIVEN, Agent, ChatContext, ChatMessage, StopResponse, llm
from livekit.agents.types import NotGivenOr

from dialroom.dial import DialRequest
from dialroom.last_good import CallPersona
from dialroom.persona import SIP_HEADER_PREFIX, Persona
from dialroom.templates import fill
from worker.call_state import CallState
from worker.providers import build_llm
from worker.tools import tools_for


class PersonaAgent(Agent):
    """Speaks as one persona: its prompt, its greeting, and the end-call tool.

    With `greet_on_enter=False` (an outbound call screened for voicemail) it keeps quiet until
    `greet()`, and what the callee says before that (their "Hello?") gets no reply of its own.
    """

    def __init__(
        self,
        persona: Persona,
        state: CallState,
        *,
        instructions: str,
        greeting: str,
        greet_on_enter: bool = True,
        model: NotGivenOr[llm.LLM] = NOT_GIVEN,
    ) -> None:
        super().__init__(
            instructions=instructions or f"You are the {persona.name} phone agent.",
            tools=tools_for(persona, state),
            llm=model,  # NOT_GIVEN: the session's
        )
        self._greeting = greeting
        self._greet_on_enter = greet_on_enter
        self._greeted = False

    async def on_enter(self) -> None:
        if self._greet_on_enter:
            self.greet()

    def greet(self) -> None:
        self._greeted = True
        self.session.say(self._greeting, allow_interruptions=False)

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
) -> PersonaAgent:
    persona = loaded.persona
    greeting = persona.greeting.inbound
    if request is not None:
        greeting = request.greeting or persona.greeting.outbound or greeting
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
        greet_on_enter=greet_on_enter,
        model=flow or NOT_GIVEN,
    )
