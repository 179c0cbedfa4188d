"""HTTP tools: each `tools.http` entry of a persona becomes a function tool the LLM can call.

The persona declares the endpoint and its parameters; the LLM fills them in. GET sends them
in the query string, POST as a JSON body; a `{param}` in the URL is filled from the
arguments instead (never empty, `.` or `..`, which would change the path the persona wrote).
Secret headers name `TOOL_SECRET_*` environment variables, so no secret is in YAML.

The LLM's arguments come from whatever the caller says, so the request is kept where the
persona pointed it: connections go through `dialroom.outbound_http` (no loopback, private
or metadata address unless allowed), and a redirect is not followed (it would carry the
secret headers to wherever the answer points): a 3xx is an error like any other.

Whatever goes wrong (timeout, refused connection, non-2xx, an answer that is not JSON)
becomes a `ToolError` with a sentence the LLM can pass on to the caller; the call goes on.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from livekit.agents import ToolError, function_tool, llm

from dialroom.outbound_http import BlockedAddress, OutboundPolicy, aiohttp_connector
from dialroom.persona import HttpTool, tool_secret
from dialroom.templates import fill, names
from worker.settings import WorkerSettings

logger = logging.getLogger("dialroom.worker.http_tools")
MAX_ANSWER_CHARS = 4000  # what the LLM reads of an answer; more only costs tokens


def http_tools(specs: tuple[HttpTool, ...]) -> list[llm.Tool]:
    policy = OutboundPolicy.from_settings(WorkerSettings())
    return [http_tool(spec, policy) for spec in specs]


def http_tool(spec: HttpTool, policy: OutboundPolicy) -> llm.RawFunctionTool:
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
        return await call_endpoint(spec, raw_arguments, policy)

    return function_tool(call, raw_schema=schema)


async def call_endpoint(spec: HttpTool, arguments: dict[str, Any], policy: OutboundPolicy) -> str:
    """Call the endpoint with the LLM's arguments; its JSON answer as text, or ToolError."""
    url, rest = endpoint_url(spec, arguments)
    request: dict[str, Any] = {"headers": _secret_headers(spec), "allow_redirects": False}
    if spec.method == "GET":
        request["params"] = {k: _text(v) for k, v in rest.items()}
    else:
        request["json"] = rest
    service = _service(spec)
    try:
        timeout = aiohttp.ClientTimeout(total=spec.timeout_s)
        connector = aiohttp_connector(policy, urlsplit(url).hostname or "")
        async with (
            aiohttp.ClientSession(timeout=timeout, connector=connector) as http,
            http.request(spec.method, url, **request) as response,
        ):
            status, body = response.status, await response.text()
    except TimeoutError as err:
        _warn(spec, f"no answer within {spec.timeout_s:g} s")
        raise ToolError(f"The {service} service did not answer in time.") from err
    except aiohttp.ClientError as err:
        cause = err.os_error if isinstance(err, aiohttp.ClientConnectorError) else None
        _warn(spec, str(cause) if isinstance(cause, BlockedAddress) else f"unreachable: {err}")
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


def endpoint_url(spec: HttpTool, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The URL with its `{param}`s filled (`dialroom.templates.fill`: nothing else in it is
    evaluated), and the declared arguments left for the query or body."""
    known = {k: v for k, v in arguments.items() if k in spec.params and v is not None}
    in_path = names(spec.url)
    url = fill(spec.url, {k: _path_segment(spec, k, known.get(k)) for k in in_path})
    return url, {k: v for k, v in known.items() if k not in in_path}


def _path_segment(spec: HttpTool, name: str, value: object) -> str:
    """One `{param}` of the URL path, quoted; ToolError when it would change the path."""
    text = _text(value) if value is not None else ""
    if text in ("", ".", ".."):
        _warn(spec, f"path parameter {name} is {text!r}")
        raise ToolError(f"The {_service(spec)} service needs the {name.replace('_', ' ')}.")
    return quote(text, safe="")


def _service(spec: HttpTool) -> str:
    return spec.name.replace("_", " ")


def _secret_headers(spec: HttpTool) -> dict[str, str]:
    headers: dict[str, str] = {}
    for header, env_name in spec.secret_headers.items():
        value = tool_secret(env_name)
        if not value:  # checked when the persona loaded; the environment changed since
            _warn(spec, f"{env_name} is not set")
            raise ToolError(f"The {_service(spec)} service is not configured.")
        headers[header] = value
    return headers


def _text(value: object) -> str:
    """A parameter as the query string spells it (JSON's true/false, not Python's)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _warn(spec: HttpTool, problem: str) -> None:
    logger.warning("http tool %s (%s %s): %s", spec.name, spec.method, spec.url, problem)
