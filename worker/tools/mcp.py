"""MCP tools: each `tools.mcp` entry of a persona is an MCP server whose tools the LLM gets,
through livekit-agents' own MCP client (an `MCPToolset` per server in the Agent's tools).

livekit connects each server when the agent starts and lists its tools (only `allowed_tools`,
when given); a tool call goes to the server and its answer back to the LLM, and lands in the
call record's `tool_calls` like any tool (`worker.session.record_call`).

What this module adds to livekit's `MCPServerHTTP`: secret headers named by variable, as HTTP
tools do (`TOOL_SECRET_*`, never a value in YAML); the outbound address policy on every
connection (`worker.tools.mcp_transport`); a connect held to the entry's `timeout_s`; and a
server that is down, slow or refusing at call start costs the call only its tools: one
warning in the log and an entry in the call record's `mcp`, never an error or a stuck start.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import httpx2
from livekit.agents import llm, utils
from livekit.agents.llm import mcp

from dialroom.calls import McpConnection
from dialroom.outbound_http import OutboundPolicy
from dialroom.persona import McpServer, tool_secret
from worker.call_state import CallState
from worker.settings import WorkerSettings
from worker.tools.mcp_transport import guarded_transport

logger = logging.getLogger("dialroom.worker.mcp_tools")


class Unavailable(Exception):
    """Why a server's tools are not offered on this call."""


class RecordedMCPServer(mcp.MCPServerHTTP):
    """livekit's HTTP MCP server, reporting how the call start found it to the call record."""

    def __init__(self, spec: McpServer, state: CallState, policy: OutboundPolicy) -> None:
        super().__init__(
            url=spec.url,
            transport_type=spec.transport,
            allowed_tools=list(spec.allowed_tools) if spec.allowed_tools else None,
            timeout=spec.timeout_s,
            client_session_timeout_seconds=spec.timeout_s,
        )
        self.spec, self.state, self.policy = spec, state, policy
        self.where = public_url(spec.url)

    def _create_http_client(
        self,
        headers: dict[str, Any] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        self._http_client = httpx2.AsyncClient(
            headers={**(headers or {}), **secret_headers(self.spec)},
            timeout=timeout or httpx2.Timeout(self._timeout, read=self._sse_read_timeout),
            auth=auth,
            transport=guarded_transport(self.policy),
        )
        return self._http_client

    async def initialize(self) -> None:
        """Connect, within the entry's `timeout_s`; on failure the call goes on without."""
        try:
            secret_headers(self.spec)  # a secret gone from the environment: do not connect
            await asyncio.wait_for(super().initialize(), self.spec.timeout_s)
        except Exception as err:  # TimeoutError included
            if self._client_task is not None:  # a connect cut short: let it end, here
                await utils.aio.cancel_and_wait(self._client_task)
                self._client_task = None  # nothing left for `aclose` to wait for
            self._unavailable(_reason(err))

    async def list_tools(self, *, tool_options: Any = None) -> list[mcp.MCPTool]:
        if not self.initialized:
            return []  # `initialize` failed and said why
        try:
            tools = await super().list_tools(tool_options=tool_options)
        except Exception as err:
            self._unavailable(f"listing its tools failed: {_reason(err)}")
            return []
        names = sorted(tool.info.name for tool in tools)
        self.state.mcp.append(McpConnection(url=self.where, connected=True, tools=names))
        logger.info("call %s: MCP %s offers %s", self.state.call_id, self.where, names)
        return tools

    def _unavailable(self, problem: str) -> None:
        self.state.mcp.append(McpConnection(url=self.where, connected=False, error=problem))
        logger.warning(
            "call %s: MCP server %s unavailable, the call goes on without its tools: %s",
            self.state.call_id,
            self.where,
            problem,
        )


def mcp_toolsets(specs: tuple[McpServer, ...], state: CallState) -> list[llm.Toolset]:
    """The persona's MCP servers as livekit toolsets for the Agent's `tools` (connected and
    listed when the agent starts; closed with it)."""
    if not specs:
        return []
    policy = OutboundPolicy.from_settings(WorkerSettings())
    return [
        mcp.MCPToolset(id=f"mcp_{i}", mcp_server=RecordedMCPServer(spec, state, policy))
        for i, spec in enumerate(specs)
    ]


def secret_headers(spec: McpServer) -> dict[str, str]:
    headers: dict[str, str] = {}
    for header, env_name in spec.headers.items():
        value = tool_secret(env_name)
        if not value:  # checked when the persona loaded; the environment changed since
            raise Unavailable(f"{env_name} is not set")
        headers[header] = value
    return headers


def public_url(url: str) -> str:
    """The URL without user info, query or fragment: what a log or the call record may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _reason(err: BaseException) -> str:
    """The innermost cause, in one line: anyio wraps a refused connection in groups."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    if isinstance(err, asyncio.TimeoutError | TimeoutError):
        return "no answer in time"
    cause = err.__cause__ or err.__context__
    text = str(err) or type(err).__name__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return text[:200]
