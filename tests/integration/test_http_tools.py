"""HTTP tools from a persona's `tools.http`: a real AgentSession whose scripted LLM calls the
tool, against a real HTTP server on 127.0.0.1 (development mode, which allows loopback). The
request must carry the LLM's arguments (query for GET, JSON body for POST, path `{params}`)
and the secret header; a broken endpoint must become a sentence for the caller while the
conversation goes on. Outside development mode loopback is refused, a redirect is never
followed (it would carry the secret header), and a path `{param}` cannot climb the path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from livekit.agents import Agent, AgentSession

from dialroom.persona import Persona
from tests.support.scripted_llm import ToolThenSayLLM
from worker.call_state import CallState
from worker.tools import tools_for

pytestmark = pytest.mark.integration


@dataclass
class OrdersApi:
    """The customer's API: records each request; each route answers one way."""

    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.seen.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "json": json.loads(body) if body else None,
                "token": request.headers.get("X-Api-Key"),
            }
        )
        route = request.match_info["route"]
        if route == "broken":
            return web.Response(status=500, text="boom")
        if route == "slow":
            await asyncio.sleep(3)
        if route == "html":
            return web.Response(text="<html>not json</html>", content_type="text/html")
        if route == "redirect":
            raise web.HTTPFound(f"{self.url}/collect")
        return web.json_response({"status": "shipped", "eta": "Friday"})


@pytest.fixture(autouse=True)
def development_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALROOM_DEV", "1")
    monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", "")


@pytest.fixture
async def api() -> AsyncIterator[OrdersApi]:
    orders = OrdersApi()
    app = web.Application()
    app.router.add_route("*", "/{route}", orders.handle)
    app.router.add_route("*", "/{route}/{order_id:[^/]+}", orders.handle)  # braces too
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    orders.url = f"http://127.0.0.1:{port}"
    yield orders
    await runner.cleanup()


def persona_with(tool: dict[str, Any]) -> Persona:
    return Persona.model_validate(
        {
            "name": "shop",
            "stt": {"provider": "local"},
            "llm": {"provider": "openai"},
            "tts": {"provider": "local"},
            "prompt": "unused.md",
            "greeting": {"inbound": "Hello"},
            "tools": {"http": [{"name": "order_status", "description": "Order status.", **tool}]},
        }
    )


async def ask(persona: Persona, arguments: dict[str, Any], *, turns: int = 1) -> list[Any]:
    """Run `turns` caller turns; each makes the LLM call the tool. Their RunResults."""
    state = CallState(call_id="c", persona=persona.name, direction="inbound", room="r")
    model = ToolThenSayLLM("order_status", arguments)
    results = []
    async with AgentSession[CallState](llm=model, userdata=state) as session:
        await session.start(Agent(instructions="Shop.", tools=tools_for(persona, state)))
        for n in range(turns):
            results.append(await session.run(user_input=f"Where is my order? ({n})"))
    return results


async def test_get_sends_params_in_the_query_and_the_secret_header(
    api: OrdersApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOL_SECRET_ORDERS_TOKEN", "tok-123")
    persona = persona_with(
        {
            "url": f"{api.url}/orders",
            "params": {"order_id": "string", "express": "boolean"},
            "secret_headers": {"X-Api-Key": "TOOL_SECRET_ORDERS_TOKEN"},
        }
    )
    (result,) = await ask(persona, {"order_id": "A 42", "express": True})
    result.expect.next_event().is_function_call(name="order_status")
    answer = '{"status": "shipped", "eta": "Friday"}'
    result.expect.next_event().is_function_call_output(output=answer, is_error=False)
    result.expect.next_event().is_message(role="assistant")
    assert api.seen == [
        {
            "method": "GET",
            "path": "/orders",
            "query": {"order_id": "A 42", "express": "true"},
            "json": None,
            "token": "tok-123",
        }
    ]


async def test_post_sends_a_json_body_and_fills_path_params(api: OrdersApi) -> None:
    persona = persona_with(
        {
            "url": api.url + "/orders/{order_id}",
            "method": "POST",
            "params": {"order_id": "string", "quantity": "integer"},
        }
    )
    (result,) = await ask(persona, {"order_id": "42/7", "quantity": 3})
    result.expect.next_event().is_function_call(name="order_status")
    result.expect.next_event().is_function_call_output(is_error=False)
    (request,) = api.seen
    assert request["method"] == "POST" and request["path"] == "/orders/42/7"
    assert request["json"] == {"quantity": 3} and request["query"] == {}


@pytest.mark.parametrize(
    ("route", "timeout_s", "sentence"),
    [
        ("broken", 5, "The order status service is not working right now (error 500)."),
        ("slow", 0.5, "The order status service did not answer in time."),
        ("html", 5, "The order status service sent an answer that could not be read."),
    ],
)
async def test_a_failing_endpoint_becomes_a_sentence_and_the_call_goes_on(
    api: OrdersApi, route: str, timeout_s: float, sentence: str
) -> None:
    persona = persona_with({"url": f"{api.url}/{route}", "timeout_s": timeout_s})
    first, second = await ask(persona, {}, turns=2)
    for result in (first, second):
        result.expect.next_event().is_function_call(name="order_status")
        result.expect.next_event().is_function_call_output(output=sentence, is_error=True)
        result.expect.next_event().is_message(role="assistant")
    assert len(api.seen) == 2, "the second turn reached the endpoint again"


async def test_an_unreachable_endpoint_becomes_a_sentence() -> None:
    persona = persona_with({"url": "http://127.0.0.1:9/orders"})  # discard port: refused
    (result,) = await ask(persona, {})
    result.expect.next_event().is_function_call(name="order_status")
    result.expect.next_event().is_function_call_output(
        output="The order status service could not be reached.", is_error=True
    )


async def test_a_loopback_endpoint_is_refused_outside_development_mode(
    api: OrdersApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALROOM_DEV", "0")
    for host in ("127.0.0.1", "localhost"):
        persona = persona_with({"url": f"{api.url.replace('127.0.0.1', host)}/orders"})
        (result,) = await ask(persona, {})
        result.expect.next_event().is_function_call(name="order_status")
        result.expect.next_event().is_function_call_output(
            output="The order status service could not be reached.", is_error=True
        )
    assert api.seen == []


async def test_an_allowed_host_is_reached_outside_development_mode(
    api: OrdersApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIALROOM_DEV", "0")
    monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", "orders.internal,127.0.0.1")
    (result,) = await ask(persona_with({"url": f"{api.url}/orders"}), {})
    result.expect.next_event().is_function_call(name="order_status")
    result.expect.next_event().is_function_call_output(is_error=False)
    assert [request["path"] for request in api.seen] == ["/orders"]


async def test_a_redirect_is_not_followed_with_the_secret_header(
    api: OrdersApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOL_SECRET_ORDERS_TOKEN", "tok-123")
    persona = persona_with(
        {"url": f"{api.url}/redirect", "secret_headers": {"X-Api-Key": "TOOL_SECRET_ORDERS_TOKEN"}}
    )
    (result,) = await ask(persona, {})
    result.expect.next_event().is_function_call(name="order_status")
    result.expect.next_event().is_function_call_output(
        output="The order status service is not working right now (error 302).", is_error=True
    )
    assert [request["path"] for request in api.seen] == ["/redirect"]  # never /collect


@pytest.mark.parametrize("order_id", ["", ".", ".."])
async def test_a_path_parameter_cannot_be_empty_or_climb_the_path(
    api: OrdersApi, order_id: str
) -> None:
    persona = persona_with(
        {"url": api.url + "/orders/{order_id}", "params": {"order_id": "string"}}
    )
    (result,) = await ask(persona, {"order_id": order_id})
    result.expect.next_event().is_function_call(name="order_status")
    result.expect.next_event().is_function_call_output(
        output="The order status service needs the order id.", is_error=True
    )
    assert api.seen == []


async def test_a_format_spec_in_the_url_is_never_evaluated(api: OrdersApi) -> None:
    """`personas check` refuses such a URL; a persona that bypassed it still gets no padding,
    no attribute access: the URL is sent as written and the argument goes to the query."""
    persona = persona_with(
        {"url": api.url + "/orders/{order_id:>12}", "params": {"order_id": "string"}}
    )
    (result,) = await ask(persona, {"order_id": "7"})
    result.expect.next_event().is_function_call(name="order_status")
    result.expect.next_event().is_function_call_output(is_error=False)
    (request,) = api.seen
    assert request["path"] == "/orders/{order_id:>12}" and request["query"] == {"order_id": "7"}
