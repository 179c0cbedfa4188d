"""MCP tools from a persona's `tools.mcp`, against a real MCP server: the official Python
SDK's server (streamable HTTP) on 127.0.0.1, in development mode (which allows loopback).

The persona's own agent runs in a real AgentSession with a scripted LLM that calls the MCP
tool when it is offered. The answer must come back from the server and land in the call
record's `tool_calls`; the secret header must reach the server; `allowed_tools` must hide
the server's other tools; a server that is down must leave the call answering, without the
tools, with the failure in the record; loopback is refused outside development mode."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from livekit.agents import AgentSession
from livekit.agents.llm.tool_context import get_fnc_tool_names
from mcp.server.mcpserver import MCPServer
from starlette.types import Receive, Scope, Send

from dialroom.persona import Persona
from worker.call_state import CallState
from worker.persona_agent import PersonaAgent
from worker.providers.rule_llm import Reply, RuleLLM
from worker.session import record_call

pytestmark = pytest.mark.integration


@dataclass
class OrdersServer:
    url: str = ""
    api_keys: list[str | None] = field(default_factory=list)  # X-Api-Key of each request


@pytest.fixture(autouse=True)
def development_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALROOM_DEV", "1")
    monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", "")


@pytest.fixture
async def orders() -> AsyncIterator[OrdersServer]:
    """An MCP server with two tools, `order_status` and `cancel_order`."""
    seen = OrdersServer()
    server = MCPServer("orders")

    @server.tool()
    def order_status(order_id: str) -> str:
        """Where a customer's order is."""
        return f"order {order_id} left the warehouse on Monday"

    @server.tool()
    def cancel_order(order_id: str) -> str:
        """Cancel a customer's order."""
        return f"order {order_id} cancelled"

    app = server.streamable_http_app()

    async def watched(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":  # each request's secret header, before the server's own
            headers = dict(scope["headers"])
            key = headers.get(b"x-api-key")
            seen.api_keys.append(key.decode() if key else None)
        await app(scope, receive, send)

    # its own thread and event loop, as a separate server would be
    config = uvicorn.Config(watched, host="127.0.0.1", port=0, log_level="warning")
    http = uvicorn.Server(config)
    serving = threading.Thread(target=http.run, name="mcp-orders", daemon=True)
    serving.start()
    await asyncio.to_thread(_wait_until_started, http)
    port = http.servers[0].sockets[0].getsockname()[1]
    seen.url = f"http://127.0.0.1:{port}/mcp"
    yield seen
    http.should_exit = True
    await asyncio.to_thread(serving.join, 10)


def _wait_until_started(http: uvicorn.Server) -> None:
    deadline = time.monotonic() + 10
    while not http.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert http.started, "the MCP server did not start"


class AskOrdersLLM(RuleLLM):
    """Calls `order_status` when it is offered, then repeats its answer; without it, says so.
    Keeps the tool names it was offered on each request."""

    model_name = "ask-orders"

    def __init__(self) -> None:
        super().__init__()
        self.offered: list[list[str]] = []

    def respond(self, reply: Reply) -> None:
        self.offered.append(sorted(get_fnc_tool_names(reply._tools)))
        if reply.after_tool_output:
            reply.say(f"Tool said: {reply._chat_ctx.items[-1].output}")  # type: ignore[union-attr]
        elif reply.offers("order_status"):
            reply.call("order_status", {"order_id": "A42"})
        else:
            reply.say("I cannot look orders up right now.")


def persona_with(*servers: dict[str, Any]) -> Persona:
    return Persona.model_validate(
        {
            "name": "shop",
            "stt": {"provider": "local"},
            "llm": {"provider": "openai"},
            "tts": {"provider": "local"},
            "prompt": "unused.md",
            "greeting": {"inbound": "Hello"},
            "tools": {"end_call": False, "mcp": list(servers)},
        }
    )


async def ask(persona: Persona) -> tuple[CallState, AskOrdersLLM, Any]:
    state = CallState(call_id="mcp-call", persona=persona.name, direction="inbound", room="r")
    model = AskOrdersLLM()
    session = AgentSession[CallState](llm=model, userdata=state)
    record_call(session)
    async with session:
        await session.start(PersonaAgent(persona, state, instructions="Shop.", greeting="Hello"))
        result = await session.run(user_input="Where is my order A42?")
    return state, model, result


async def test_the_llm_calls_an_mcp_tool_and_the_call_record_has_it(
    orders: OrdersServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOL_SECRET_ORDERS_KEY", "key-123")
    persona = persona_with({"url": orders.url, "headers": {"X-Api-Key": "TOOL_SECRET_ORDERS_KEY"}})
    state, model, result = await ask(persona)

    result.expect.next_event().is_function_call(name="order_status", arguments={"order_id": "A42"})
    output = result.expect.next_event().is_function_call_output(is_error=False).event().item
    assert "order A42 left the warehouse on Monday" in output.output
    result.expect.next_event().is_message(role="assistant")
    [call] = state.record().tool_calls
    assert call.name == "order_status" and call.arguments == {"order_id": "A42"}
    assert call.output is not None and "left the warehouse on Monday" in call.output
    assert not call.error
    assert model.offered[0] == ["cancel_order", "order_status"]
    [server] = state.record().mcp
    assert server.connected and server.tools == ["cancel_order", "order_status"]
    assert orders.api_keys and set(orders.api_keys) == {"key-123"}


async def test_allowed_tools_hide_the_servers_other_tools(orders: OrdersServer) -> None:
    state, model, result = await ask(
        persona_with({"url": orders.url, "allowed_tools": ["order_status"]})
    )

    assert model.offered and all(names == ["order_status"] for names in model.offered)
    result.expect.next_event().is_function_call(name="order_status")
    assert state.mcp[0].tools == ["order_status"]


async def test_a_server_that_is_down_leaves_the_call_working_without_its_tools(
    orders: OrdersServer,
) -> None:
    down = {"url": "http://127.0.0.1:9/mcp", "timeout_s": 2}  # discard port: refused
    state, model, result = await ask(persona_with(down, {"url": orders.url}))

    result.expect.next_event().is_function_call(name="order_status")  # the live one still works
    broken, live = sorted(state.record().mcp, key=lambda s: s.connected)
    assert broken.url == "http://127.0.0.1:9/mcp" and not broken.connected and broken.error
    assert live.connected


async def test_a_call_whose_only_server_is_down_still_answers() -> None:
    state, model, result = await ask(persona_with({"url": "http://127.0.0.1:9/mcp"}))

    msg = result.expect.next_event().is_message(role="assistant").event().item
    assert msg.text_content == "I cannot look orders up right now."
    assert model.offered == [[]]
    [server] = state.record().mcp
    assert not server.connected and server.error


async def test_a_loopback_server_is_refused_outside_development_mode(
    orders: OrdersServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALROOM_DEV", "0")
    state, model, _ = await ask(persona_with({"url": orders.url}))

    [server] = state.mcp
    assert not server.connected and "loopback" in (server.error or ""), server.error
    assert model.offered == [[]] and orders.api_keys == []


async def test_a_server_that_never_answers_costs_the_call_only_its_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the connection, answers nothing, until the client leaves
        writer.close()

    listener = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        started = time.monotonic()
        state, _, result = await ask(
            persona_with({"url": f"http://127.0.0.1:{port}/mcp", "timeout_s": 0.5})
        )
        waited = time.monotonic() - started

    result.expect.next_event().is_message(role="assistant")
    assert state.mcp[0].error == "no answer in time"
    assert waited < 5, f"the call waited {waited:.1f} s for a silent MCP server"
