"""The shape of a persona file: the frozen pydantic models `agents/<name>.yaml` validates into.

Everything a model can check on its own values is checked here (types, ranges, patterns, a flow
that fits its LLM). What needs the disk or the environment (the prompt file, the `{variables}`
a text uses, tool secrets) is checked when `dialroom.persona` loads the file, which also
re-exports these models: services import them from there.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from dialroom.guard_rules import compile_rule, compile_rules, first_match
from dialroom.templates import IDENTIFIER, is_identifier

# Variables a prompt or greeting may use without the persona collecting them.
CALL_VARIABLES = frozenset(
    {"caller_number", "called_number", "caller_name", "persona", "caller_memory"}
)
# Inbound SIP headers the bridge passes on (`X-Customer-ID` -> {sip_h_x_customer_id}); any name
# with this prefix is allowed, and one the call does not carry is empty.
SIP_HEADER_PREFIX = "sip_h_"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpeechConfig(_Strict):
    provider: Literal["azure", "openai", "local"]
    language: str = "en-US"
    voice: str | None = None
    # Where the provider's API is, instead of its public default: openai -> the base URL
    # (`https://host/v1`, any OpenAI-compatible server); azure TTS -> the full REST URL
    # (`https://<region>.tts.speech.microsoft.com/cognitiveservices/v1`, a private endpoint).
    endpoint: str | None = None


class STTConfig(SpeechConfig):
    """Speech to text: the turn ends on Dialroom's VAD and endpointing, not the provider's."""

    # azure: Azure's own end-of-phrase silence (Speech_SegmentationSilenceTimeoutMs); its
    # final transcript comes this long after the caller stops.
    segmentation_silence_ms: int = Field(default=300, ge=100, le=5000)
    # a streaming STT (azure): a turn that ends before the provider's final takes its latest
    # interim text, so the reply never waits for the provider's segmentation
    end_turn_on_interim: bool = True
    # local: Whisper starts on the audio so far at the caller's first pause (60 ms of VAD
    # silence) and the turn reuses it if they stay silent; off, it starts at the VAD's end of
    # speech (turn.vad_min_silence_s later). bench/README.md, "offline persona".
    transcribe_on_pause: bool = True


class LLMConfig(_Strict):
    provider: Literal["openai", "azure_openai", "flow"]
    model: str | None = None
    base_url: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)


class Greeting(_Strict):
    inbound: str
    outbound: str | None = None


class TurnConfig(_Strict):
    min_endpointing_s: float = Field(default=0.4, ge=0, le=5)
    max_endpointing_s: float = Field(default=3.0, ge=0, le=10)
    interruptions: bool = True
    detection: Literal["vad", "model"] = "vad"
    # the LLM starts on the final transcript, before the turn is decided (a flow never needs it)
    preemptive_generation: bool = True
    # ... and synthesizes its first sentence too: faster, but pays TTS for replies thrown away
    preemptive_tts: bool = False
    # silence before the VAD ends speech; a local STT starts transcribing then (providers.vad)
    vad_min_silence_s: float = Field(default=0.25, ge=0.05, le=2.0)

    @model_validator(mode="after")
    def _model_needs_vad_silence(self) -> TurnConfig:
        if self.detection == "model" and self.vad_min_silence_s < 0.25:
            raise ValueError("`detection: model` needs `vad_min_silence_s` of at least 0.25")
        return self


class SilenceLimits(_Strict):
    reprompt_after_s: float = Field(default=8.0, gt=0, le=120)
    reprompts: int = Field(default=2, ge=0, le=10)
    message: str = "Are you still there?"
    goodbye: str = "I haven't heard from you, so I'll end the call now. Goodbye!"


class Limits(_Strict):
    max_call_s: float = Field(default=900.0, gt=0, le=4 * 3600)
    closing: str = "We have reached the time limit for this call. Thank you for calling, goodbye!"
    silence: SilenceLimits = SilenceLimits()


class FlowStep(_Strict):
    """One step of a deterministic dialogue: say something, or wait for an answer."""

    say: str | None = None
    collect: str | None = Field(
        default=None,
        pattern=f"^{IDENTIFIER.pattern}$",
        description="slot name the answer is stored in: {name} in later `say` steps",
    )
    choices: tuple[str, ...] = ()
    retry: str = "Sorry, I didn't catch that. Could you say it again?"
    end_call: bool = False
    transfer: bool = Field(default=False, description="after saying it, transfer the caller")
    send_dtmf: str | None = Field(
        default=None, pattern=r"^[0-9*#A-D]+$", description="keys to press after saying it"
    )
    handoff: str | None = Field(
        default=None, description="after saying it, hand the caller to this persona (`handoff:`)"
    )

    @model_validator(mode="after")
    def _actions_follow_a_say(self) -> FlowStep:
        if (self.transfer or self.send_dtmf or self.handoff) and self.say is None:
            raise ValueError("`transfer`, `send_dtmf` and `handoff` go on a `say` step")
        return self

    @model_validator(mode="after")
    def _one_kind(self) -> FlowStep:
        if (self.say is None) == (self.collect is None):
            raise ValueError("a step has exactly one of `say` or `collect`")
        if self.collect is not None and not self.choices:
            raise ValueError("a `collect` step needs `choices` (the words that answer it)")
        if self.end_call and self.say is None:
            raise ValueError("`end_call` goes on a `say` step (the last thing said)")
        return self


JsonType = Literal["string", "number", "integer", "boolean"]
_TOOL_NAME = r"^[a-z][a-z0-9_]{0,63}$"


class TransferTool(_Strict):
    """Hand the caller to a human: SIP REFER (cold) or brief-then-join (warm)."""

    to: str = Field(description="tel:+E164 or sip:user@host (warm: tel:+E164 only)")
    warm: bool = False
    description: str = "Transfer the caller to a human colleague when they ask for one."
    # warm: what the human hears before the caller joins (a flow persona says it as is; an
    # LLM persona adds it to the instructions of its summary)
    briefing: str = "I have a caller on the line who asked for a person. Shall I connect them?"
    # a `flow` persona says this, then hangs up, when nobody takes the call (busy, no answer,
    # the human declines); an LLM persona hears why and answers in its own words
    unavailable: str = "I'm sorry, nobody can take your call right now. Please try again later."

    @model_validator(mode="after")
    def _warm_dials_a_number(self) -> TransferTool:
        if self.warm and not re.fullmatch(r"(tel:)?\+?[0-9]{2,15}", self.to):
            raise ValueError(
                "a warm transfer dials `to` through the outbound trunk (SIP_OUTBOUND_TRUNK): "
                "use tel:+E164"
            )
        return self


class HttpTool(_Strict):
    """An HTTP endpoint the LLM may call as a function tool."""

    name: str = Field(pattern=_TOOL_NAME)
    description: str
    url: str
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, JsonType] = Field(default_factory=dict)
    # header name -> NAME of an environment variable holding the value (secrets never in YAML)
    secret_headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=5.0, gt=0, le=30)


class McpServer(_Strict):
    """An MCP server whose tools the LLM may call (`worker/tools/mcp.py`)."""

    url: str = Field(pattern=r"^https?://[^/\s]+", description="http(s)://host[:port]/path")
    transport: Literal["streamable_http", "sse"] = "streamable_http"
    # header name -> NAME of a TOOL_SECRET_* environment variable holding the value, as HTTP tools
    headers: dict[str, str] = Field(default_factory=dict)
    # only these of the server's tools (None: all it lists)
    allowed_tools: tuple[str, ...] | None = Field(default=None, min_length=1)
    timeout_s: float = Field(default=5.0, gt=0, le=30)  # to connect at call start, and per call


class Handoff(_Strict):
    """A persona this one may hand the caller to, in the same call (`worker/handoff.py`)."""

    persona: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="a file in agents/")
    when: str = Field(default="", description="what the LLM reads: when to hand over")


class Memory(_Strict):
    """Returning callers: a note of each call (its summary and extracted fields) is kept per
    number, and the next call from that number reads it as `{caller_memory}`."""

    enabled: bool = True
    keep_days: float = Field(default=90.0, gt=0, le=3650)


class Tools(_Strict):
    end_call: bool = True
    transfer: TransferTool | None = None
    dtmf: bool = False
    http: tuple[HttpTool, ...] = ()
    mcp: tuple[McpServer, ...] = ()


class PostCall(_Strict):
    summary: bool = False
    extract: dict[str, JsonType] = Field(default_factory=dict)


class CallingHours(_Strict):
    """When outbound calls may ring, in the callee's local time zone."""

    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = (
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    )
    start: str = Field(default="09:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    end: str = Field(default="18:00", pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$")


class OutboundRules(_Strict):
    retry_delay_s: float | None = Field(default=None, ge=0, le=86400)
    calling_hours: CallingHours | None = None
    # The outbound SIP trunk (its name in sip/telephony.yaml, or an ST_ id) the persona's calls
    # go out on, and count against for MAX_CONCURRENT_PER_TRUNK; default SIP_OUTBOUND_TRUNK.
    trunk: str | None = Field(default=None, min_length=1)


class Recording(_Strict):
    """Record the call in stereo (caller left, agent right) as Ogg/Opus; the caller hears
    `consent_message` first, before the greeting. Without this section RECORDING_ENABLED
    (and RECORDING_CONSENT_MESSAGE) decide."""

    enabled: bool = True
    consent_message: str | None = Field(default=None, description="Said first; {variables}")


class Voicemail(_Strict):
    """Outbound calls only: listen to who answers (answering machine detection) before the
    greeting, and what to do when it is a machine."""

    action: Literal["hang_up", "leave_message"]
    message: str | None = Field(default=None, description="Said after the beep; {variables}")

    @model_validator(mode="after")
    def _message_when_leaving_one(self) -> Voicemail:
        if self.action == "leave_message" and not self.message:
            raise ValueError("`action: leave_message` needs `message:` (said after the beep)")
        return self


def _banned_rule(rule: str) -> str:
    compile_rule(rule)  # ValueError: a bad /pattern/ or an empty phrase
    return rule


class Guard(_Strict):
    """What the agent must never say: each sentence is checked before the TTS gets it, and
    one that breaks a rule is replaced (`dialroom.guard_rules`, `worker/guard.py`)."""

    banned: tuple[Annotated[str, AfterValidator(_banned_rule)], ...] = ()
    replace_with: str = Field(default="Sorry, I can't help with that.", min_length=1)
    # also ask the persona's own LLM about each sentence, against `policy` (worker/guard_judge.py)
    judge: bool = False
    policy: str | None = Field(default=None, min_length=1, description="what the judge refuses")

    @model_validator(mode="after")
    def _replacement_is_allowed(self) -> Guard:
        if not self.banned and not self.judge:
            raise ValueError("a guard needs `banned` rules, `judge: true`, or both")
        if self.policy and not self.judge:
            raise ValueError("`policy` is what the judge checks: set `judge: true` too")
        if found := first_match(compile_rules(self.banned), self.replace_with):
            raise ValueError(f"`replace_with` is itself banned by `{found.rule}`")
        return self


class Persona(_Strict):
    name: str
    language: str = "en-US"
    numbers: tuple[str, ...] = ()
    stt: STTConfig
    llm: LLMConfig
    tts: SpeechConfig
    prompt: str | None = Field(default=None, description="Markdown file in prompts/")
    greeting: Greeting
    turn: TurnConfig = TurnConfig()
    limits: Limits = Limits()
    flow: tuple[FlowStep, ...] = ()
    tools: Tools = Tools()
    post_call: PostCall = PostCall()
    outbound: OutboundRules = OutboundRules()
    voicemail: Voicemail | None = None
    guard: Guard | None = None
    recording: Recording | None = None  # None: RECORDING_ENABLED decides
    handoff: tuple[Handoff, ...] = ()  # personas this one may hand the caller to
    handoff_context: Literal["full", "summary"] = "full"  # what the next persona is told
    memory: Memory | None = None  # returning callers (`{caller_memory}`)
    # {variables} the persona expects from API callers and campaign columns -> default value
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, variables: dict[str, str]) -> dict[str, str]:
        for name in variables:
            if not is_identifier(name):
                raise ValueError(f"`{name}` is not a {{name}}: letters, digits and _ only")
            if name in CALL_VARIABLES or name.startswith(SIP_HEADER_PREFIX):
                raise ValueError(f"`{name}` is set by every call; do not declare it")
        return variables

    @model_validator(mode="after")
    def _variables_are_not_slots(self) -> Persona:
        if taken := self.variables.keys() & {s.collect for s in self.flow if s.collect}:
            raise ValueError(f"variables: `{min(taken)}` is a flow `collect` slot already")
        return self

    @model_validator(mode="after")
    def _flow_matches_llm(self) -> Persona:
        if self.llm.provider == "flow" and not self.flow:
            raise ValueError("llm.provider is `flow` but the persona has no `flow:` steps")
        if self.llm.provider != "flow" and self.flow:
            raise ValueError("`flow:` steps are only used with llm.provider `flow`")
        if self.flow and self.flow[0].collect is None:
            raise ValueError("flow: the first step must be a `collect` (the greeting asks it)")
        if self.llm.provider != "flow" and self.prompt is None:
            raise ValueError("an LLM persona needs `prompt:` (a file in prompts/)")
        return self

    @model_validator(mode="after")
    def _guard_fits(self) -> Persona:
        if self.guard is None:
            return self
        if self.guard.judge and self.llm.provider == "flow":
            raise ValueError("guard.judge asks the persona's LLM: a `flow` persona has none")
        rules = compile_rules(self.guard.banned)
        greetings = {"inbound": self.greeting.inbound, "outbound": self.greeting.outbound}
        for which, text in greetings.items():
            if text and (found := first_match(rules, text)):
                raise ValueError(f"greeting.{which} is banned by guard rule `{found.rule}`")
        return self

    @model_validator(mode="after")
    def _handoffs_are_listed(self) -> Persona:
        targets = [h.persona for h in self.handoff]
        if self.name in targets:
            raise ValueError("handoff: a persona cannot hand the caller to itself")
        if len(set(targets)) != len(targets):
            raise ValueError("handoff: a persona is listed twice")
        for step in self.flow:
            if step.handoff and step.handoff not in targets:
                raise ValueError(f"a flow step hands off to `{step.handoff}`: list it in handoff")
        return self

    @model_validator(mode="after")
    def _flow_actions_have_tools(self) -> Persona:
        if any(s.transfer for s in self.flow) and self.tools.transfer is None:
            raise ValueError("a flow step has `transfer: true` but `tools.transfer` is not set")
        if any(s.send_dtmf for s in self.flow) and not self.tools.dtmf:
            raise ValueError("a flow step has `send_dtmf` but `tools.dtmf` is not true")
        return self
