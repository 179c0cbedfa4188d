"""A real HTTP receiver on 127.0.0.1 for webhook tests: records every request and answers
from a script (then 200), the way a customer's endpoint would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from dialroom.webhooks import EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event_id(self) -> str:
        return self.headers[EVENT_HEADER]


@dataclass
class Receiver:
    """An HTTP server that records every request and answers from a script (then 200)."""

    base_url: str = ""
    received: list[Delivery] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # status codes for the next requests
    hold: dict[str, asyncio.Event] = field(default_factory=dict)  # path -> released when set

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if (gate := self.hold.get(request.path)) is not None:
            await gate.wait()
        self.received.append(Delivery(request.path, dict(request.headers), body))
        return web.Response(status=self.answers.pop(0) if self.answers else 200)

    def ids(self, path: str = "/hook") -> list[str]:
        return [d.event_id for d in self.received if d.path == path]


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    found.base_url = f"http://{host}:{port}"
    try:
        yield found
    finally:
        for gate in found.hold.values():
            gate.set()
        await runner.cleanup()


def verifies(delivery: Delivery, secret: str) -> bool:
    return verify(
        secret,
        delivery.body,
        timestamp=delivery.headers.get(TIMESTAMP_HEADER),
        signature_header=delivery.headers.get(SIGNATURE_HEADER),
        now=time.time(),
    )
