"""The persona: one YAML file in `agents/` that says who answers a call and how.

A persona validates into a frozen pydantic model. Every mistake is reported as one
`PersonaError` naming the file, the field path and what to do about it.
"""

from __future__ import annotations

import os
import re
import string
from pathlib import Path
from typing import Literal

import yaml
from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dialroom.paths import AGENTS_DIR, PROMPTS_DIR
from dialroom.templates import IDENTIFIER, is_identifier, names

# Variables a prompt or greeting may use without the persona collecting them.
CALL_VARIABLES = frozenset({"caller_number", "called_number", "caller_name", "persona"})
# Inbound SIP headers the bridge passes on (`X-Customer-ID` -> {sip_h_x_customer_id}); any name
# with this prefix is allowed, and one the call does not carry is empty.
SIP_HEADER_PREFIX = "sip_h_"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


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

    @model_validator(mode="after")
    def _actions_follow_a_say(self) -> FlowStep:
        if (self.transfer or self.send_dtmf) and self.say is None:
            raise ValueError("`transfer` and `send_dtmf` go on a `say` step")
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
_ENV_NAME = r"^[A-Z][A-Z0-9_]*$"


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


class Tools(_Strict):
    end_call: bool = True
    transfer: TransferTool | None = None
    dtmf: bool = False
    http: tuple[HttpTool, ...] = ()


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


class Persona(_Strict):
    name: str
    language: str = "en-US"
    numbers: tuple[str, ...] = ()
    stt: SpeechConfig
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
    def _flow_actions_have_tools(self) -> Persona:
        if any(s.transfer for s in self.flow) and self.tools.transfer is None:
            raise ValueError("a flow step has `transfer: true` but `tools.transfer` is not set")
        if any(s.send_dtmf for s in self.flow) and not self.tools.dtmf:
            raise ValueError("a flow step has `send_dtmf` but `tools.dtmf` is not true")
        return self


class PersonaError(Exception):
    """A persona file that cannot be used, with where and why."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        self.path, self.field, self.problem = path, field, problem
        where = f"{path.name}: {field}" if field else path.name
        super().__init__(f"{where}: {problem}")


def persona_path(name: str, agents_dir: Path = AGENTS_DIR) -> Path:
    return agents_dir / f"{name}.yaml"


def available(agents_dir: Path = AGENTS_DIR) -> list[str]:
    return sorted(p.stem for p in agents_dir.glob("*.yaml"))


def load_persona(
    name: str, *, agents_dir: Path = AGENTS_DIR, prompts_dir: Path = PROMPTS_DIR
) -> Persona:
    """Read, validate and cross-check one persona; raise PersonaError on any mistake."""
    if not _NAME.match(name):
        raise PersonaError(persona_path(name, agents_dir), "", "not a valid persona name")
    path = persona_path(name, agents_dir)
    if not path.is_file():
        known = ", ".join(available(agents_dir)) or "none"
        raise PersonaError(path, "", f"no such persona (available: {known})")
    data = _read_yaml(path)
    if data.get("name", name) != name:
        raise PersonaError(path, "name", f"must match the file name `{name}`")
    try:
        persona = Persona.model_validate({"name": name, **data})
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise PersonaError(path, field, _explain(first)) from err
    _check_references(persona, path, prompts_dir)
    _check_http_tools(persona, path)
    return persona


def read_prompt(persona: Persona, prompts_dir: Path = PROMPTS_DIR) -> str:
    return prompt_path(persona.prompt, prompts_dir).read_text() if persona.prompt else ""


def prompt_path(prompt: str, prompts_dir: Path = PROMPTS_DIR) -> Path:
    """The prompt file, which must be inside `prompts_dir`: a persona names a prompt, not any
    file the process can read. ValueError for an absolute path, `..`, or a link leading out."""
    relative = Path(prompt)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError("must be a file inside prompts/ (no absolute path, no `..`)")
    found = prompts_dir / relative
    if not found.resolve().is_relative_to(prompts_dir.resolve()):
        raise ValueError("must be a file inside prompts/ (it is a link to elsewhere)")
    return found


def template_fields(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def _read_yaml(path: Path) -> dict[str, object]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise PersonaError(path, where, f"not valid YAML ({getattr(err, 'problem', err)})") from err
    if not isinstance(data, dict):
        raise PersonaError(path, "", "must be a YAML mapping of persona fields")
    return data


def _explain(error: dict[str, object]) -> str:
    kind, msg = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        return "unknown field (check the spelling against the README's persona reference)"
    if kind == "missing":
        return "required field is missing"
    return msg.removeprefix("Value error, ")


def _check_references(persona: Persona, path: Path, prompts_dir: Path) -> None:
    known = CALL_VARIABLES | persona.variables.keys()
    texts: list[tuple[str, str, set[str]]] = [("greeting.inbound", persona.greeting.inbound, known)]
    if persona.greeting.outbound:
        texts.append(("greeting.outbound", persona.greeting.outbound, known))
    texts += _flow_says(persona.flow, known)
    if persona.voicemail and persona.voicemail.message:
        texts.append(("voicemail.message", persona.voicemail.message, known))
    if persona.prompt:
        try:
            prompt_file = prompt_path(persona.prompt, prompts_dir)
        except ValueError as err:
            raise PersonaError(path, "prompt", str(err)) from err
        if not prompt_file.is_file():
            raise PersonaError(path, "prompt", f"prompts/{persona.prompt} does not exist")
        texts.append(("prompt", prompt_file.read_text(), known))
    for field, text, usable in texts:
        unknown = {n for n in names(text) - usable if not n.startswith(SIP_HEADER_PREFIX)}
        if unknown:
            raise PersonaError(path, field, _unknown_variables(unknown, usable))


def _flow_says(flow: tuple[FlowStep, ...], known: set[str]) -> list[tuple[str, str, set[str]]]:
    """Each `say` step with the names it may use: the call's, and the slots collected before."""
    says: list[tuple[str, str, set[str]]] = []
    usable = set(known)
    for i, step in enumerate(flow):
        if step.say:
            says.append((f"flow.{i}.say", step.say, set(usable)))
        if step.collect:
            usable.add(step.collect)
    return says


def _unknown_variables(unknown: set[str], usable: set[str]) -> str:
    return (
        f"unknown variable {{{', '.join(sorted(unknown))}}}; known: {', '.join(sorted(usable))} "
        "(a variable from the API or a campaign column must be declared under `variables:`)"
    )


BUILT_IN_TOOLS = frozenset({"end_call", "transfer_call", "send_dtmf", "send_dtmf_events"})


# A persona may send only variables named for it to a tool: never LIVEKIT_API_SECRET, API_KEYS,
# a provider key or anything else the process holds for itself.
TOOL_SECRET_PREFIX = "TOOL_SECRET_"


def tool_secret(env_name: str) -> str | None:
    """The value of a secret an HTTP tool names, from the environment or `.env`; None for a
    name without TOOL_SECRET_PREFIX.

    Secret names are persona data, so they cannot be fields of a settings class; this is the
    one place that reads them, in the same order the settings classes do (environment first).
    """
    if not env_name.startswith(TOOL_SECRET_PREFIX) or env_name == TOOL_SECRET_PREFIX:
        return None
    if env_name in os.environ:
        return os.environ[env_name]
    return dotenv_values(".env").get(env_name) if Path(".env").is_file() else None


def _check_http_tools(persona: Persona, path: Path) -> None:
    seen = set(BUILT_IN_TOOLS)
    for i, tool in enumerate(persona.tools.http):
        where = f"tools.http.{i}"
        if tool.name in seen:
            raise PersonaError(path, f"{where}.name", f"`{tool.name}` is already a tool name")
        seen.add(tool.name)
        try:
            unknown = template_fields(tool.url) - set(tool.params)
        except ValueError as err:
            raise PersonaError(path, f"{where}.url", f"bad {{parameter}} syntax ({err})") from err
        if unknown:
            names = ", ".join(sorted(unknown))
            problem = f"unknown parameter {{{names}}}; declare it under params"
            raise PersonaError(path, f"{where}.url", problem)
        for header, env_name in tool.secret_headers.items():
            if not re.match(_ENV_NAME, env_name) or not env_name.startswith(TOOL_SECRET_PREFIX):
                raise PersonaError(
                    path,
                    f"{where}.secret_headers.{header}",
                    f"must name an environment variable starting with {TOOL_SECRET_PREFIX} "
                    f"(like {TOOL_SECRET_PREFIX}ORDERS_TOKEN): only those are sent to tools",
                )
            if not tool_secret(env_name):
                raise PersonaError(
                    path,
                    f"{where}.secret_headers.{header}",
                    f"environment variable {env_name} is not set (put it in .env)",
                )


def check_all(
    *, agents_dir: Path = AGENTS_DIR, prompts_dir: Path = PROMPTS_DIR
) -> tuple[list[Persona], list[PersonaError]]:
    """Every persona in `agents_dir` as it is on disk now: the good ones and the errors."""
    good: list[Persona] = []
    broken: list[PersonaError] = []
    for name in available(agents_dir):
        try:
            good.append(load_persona(name, agents_dir=agents_dir, prompts_dir=prompts_dir))
        except PersonaError as err:
            broken.append(err)
    return good, broken
