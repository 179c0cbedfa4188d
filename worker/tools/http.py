"""HTTP tools: each `tools.http` entry of a persona becomes a function tool the LLM can call.

The persona declares the endpoint and its parameters; the LLM fills them in. GET sends them
in the query string, POST as a JSON body; a `{param}` in the URL is filled from the
arguments instead. Secret headers name environment variables, so no secret is in YAML.

Whatever goes wrong (timeout, refused connection, non-2xx, an answer that is not JSON)
becomes a `ToolError` with a sentence the LLM can pass on to the caller; the call goes on.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
from livekit.agents import ToolError, function_tool, llm

from dialroom.persona import HttpTool, template_fields, tool_secret

logger = logging.getLogger("dialroom.worker.http_tools")
MAX_ANSWER_CHARS = 4000  # what the LLM reads of an answer; more only costs tokens


def http_tools(specs: tuple[HttpTool, ...]) -> list[llm.Tool]:
    return [http_tool(spec) for spec in specs]


def http_tool(spec: HttpTool) -> llm.RawFunctionTool:
    """The function tool for one HTTP endpoint; its description is what the LLM reads."""
    schema = {
        "name": spec.name,
        "description": spec.description,
        "parameters": {
            "type": "object",
            "properties": {name: {"type": kind} for name, kind in spec.params.items()},
            "required": list(spec.params),
            "additionalProperties": False,
        },
    }

    async def call(raw_arguments: dict[str, Any]) -> str:
        return await call_endpoint(spec, raw_arguments)

    return function_tool(call, raw_schema=schema)


async def call_endpoint(spec: HttpTool, arguments: dict[str, Any]) -> str:
    """Call the endpoint with the LLM's arguments; its JSON answer as text, or ToolError."""
    known = {k: v for k, v in arguments.items() if k in spec.params and v is not None}
    in_path = template_fields(spec.url)
    url = spec.url.format(**{k: quote(_text(known.get(k, "")), safe="") for k in in_path})
    rest = {k: v for k, v in known.items() if k not in in_path}
    request: dict[str, Any] = {"headers": _secret_headers(spec)}
    if spec.method == "GET":
        request["params"] = {k: _text(v) for k, v in rest.items()}
    else:
        request["json"] = rest
    service = spec.name.replace("_", " ")
    try:
        timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.request(spec.method, url, **request) as response,
        ):
            status, body = response.status, await response.text()
    except TimeoutError as err:
        _warn(spec, f"no answer within {spec.timeout_s:g} s")
        raise ToolError(f"The {service} service did not answer in time.") from err
    except aiohttp.ClientError as err:
        _warn(spec, f"unreachable: {err}")
        raise ToolError(f"The {service} service could not be reached.") from err
    if not 200 <= status < 300:
        _warn(spec, f"HTTP {status}")
        raise ToolError(f"The {service} service is not working right now (error {status}).")
    try:
        answer = json.loads(body)
    except json.JSONDecodeError as err:
        _warn(spec, "answer is not JSON")
        raise ToolError(f"The {service} service sent an answer that could not be read.") from err
    return json.dumps(answer)[:MAX_ANSWER_CHARS]


def _secret_headers(spec: HttpTool) -> dict[str, str]:
    headers: dict[str, str] = {}
    for header, env_name in spec.secret_headers.items():
        value = tool_secret(env_name)
        if not value:  # checked when the persona loaded; the environment changed since
            _warn(spec, f"{env_name} is not set")
            raise ToolError(f"The {spec.name.replace('_', ' ')} service is not configured.")
        headers[header] = value
    return headers


def _text(value: object) -> str:
    """A parameter as the query string spells it (JSON's true/false, not Python's)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _warn(spec: HttpTool, problem: str) -> None:
    logger.warning("http tool %s (%s %s): %s", spec.name, spec.method, spec.url, problem)
