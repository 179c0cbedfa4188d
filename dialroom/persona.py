"""The persona: one YAML file in `agents/` that says who answers a call and how.

A persona validates into the frozen pydantic models of `dialroom.persona_schema`; loading then
checks what the models cannot see on their own: the prompt file, the `{variables}` each text
uses, HTTP tools' URLs and secrets. Every mistake is reported as one `PersonaError` naming the
file, the field path and what to do about it, before any call uses the persona.

The models are re-exported here, so `from dialroom.persona import Persona, load_persona` is the
one import a service needs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from dotenv import dotenv_values
from pydantic import ValidationError

from dialroom.paths import AGENTS_DIR, PROMPTS_DIR
from dialroom.persona_schema import (
    CALL_VARIABLES,
    SIP_HEADER_PREFIX,
    CallingHours,
    FlowStep,
    Greeting,
    Guard,
    Handoff,
    HttpTool,
    JsonType,
    Limits,
    LLMConfig,
    McpServer,
    Memory,
    OutboundRules,
    Persona,
    PostCall,
    SilenceLimits,
    SpeechConfig,
    STTConfig,
    Tools,
    TransferTool,
    TurnConfig,
    Voicemail,
)
from dialroom.templates import names, unfilled

__all__ = [
    "CALL_VARIABLES",
    "SIP_HEADER_PREFIX",
    "TOOL_SECRET_PREFIX",
    "CallingHours",
    "FlowStep",
    "Greeting",
    "Guard",
    "Handoff",
    "HttpTool",
    "JsonType",
    "LLMConfig",
    "Limits",
    "McpServer",
    "Memory",
    "OutboundRules",
    "Persona",
    "PersonaError",
    "PostCall",
    "SilenceLimits",
    "SpeechConfig",
    "STTConfig",
    "Tools",
    "TransferTool",
    "TurnConfig",
    "Voicemail",
    "available",
    "check_all",
    "load_persona",
    "persona_path",
    "prompt_path",
    "read_prompt",
    "tool_secret",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


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
    _check_mcp_servers(persona, path)
    _check_handoffs(persona, path, agents_dir)
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


def _read_yaml(path: Path) -> dict[str, object]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise PersonaError(
            path, "", f"not UTF-8 text (byte {err.start}): save it as UTF-8"
        ) from err
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
    if persona.recording and persona.recording.consent_message:
        texts.append(("recording.consent_message", persona.recording.consent_message, known))
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
        if "caller_memory" in names(text) and not (persona.memory and persona.memory.enabled):
            raise PersonaError(path, field, "{caller_memory} needs `memory: {enabled: true}`")


def _check_handoffs(persona: Persona, path: Path, agents_dir: Path) -> None:
    """A hand-off target is another persona file (its own mistakes are its own report)."""
    for i, handoff in enumerate(persona.handoff):
        if not persona_path(handoff.persona, agents_dir).is_file():
            known = ", ".join(n for n in available(agents_dir) if n != persona.name) or "none"
            raise PersonaError(
                path,
                f"handoff.{i}.persona",
                f"unknown persona `{handoff.persona}` (available: {known})",
            )


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
        if problem := _url_problem(tool):
            raise PersonaError(path, f"{where}.url", problem)
        for header, env_name in tool.secret_headers.items():
            if problem := _secret_problem(env_name):
                raise PersonaError(path, f"{where}.secret_headers.{header}", problem)


def _check_mcp_servers(persona: Persona, path: Path) -> None:
    """An MCP server's headers name secrets exactly as an HTTP tool's `secret_headers` do."""
    for i, server in enumerate(persona.tools.mcp):
        for header, env_name in server.headers.items():
            if problem := _secret_problem(env_name):
                raise PersonaError(path, f"tools.mcp.{i}.headers.{header}", problem)


def _url_problem(tool: HttpTool) -> str | None:
    """What is wrong with the `{parameters}` of a tool's URL, if anything. The URL is filled
    with `dialroom.templates.fill`, which leaves anything but `{name}` as written: a format
    spec or a stray brace would reach the request literally, so it is refused here."""
    if stray := unfilled(tool.url):
        return (
            f"`{stray[0]}` is not a {{parameter}}: write `{{name}}` of a declared parameter "
            "(`{{` and `}}` for a literal brace)"
        )
    if unknown := names(tool.url) - set(tool.params):
        return f"unknown parameter {{{', '.join(sorted(unknown))}}}; declare it under params"
    return None


def _secret_problem(env_name: str) -> str | None:
    if not _ENV_NAME.match(env_name) or not env_name.startswith(TOOL_SECRET_PREFIX):
        return (
            f"must name an environment variable starting with {TOOL_SECRET_PREFIX} "
            f"(like {TOOL_SECRET_PREFIX}ORDERS_TOKEN): only those are sent to tools"
        )
    if not tool_secret(env_name):
        return f"environment variable {env_name} is not set (put it in .env)"
    return None


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
