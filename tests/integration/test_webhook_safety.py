"""Where webhooks may go and how long a receiver may hold one, against real receivers on
127.0.0.1 and a real Redis: loopback refused outside development mode (a name resolving to it
included), delivered in development mode or when the host is allowed; a receiver trickling
its answer ends at the deadline, and a hundred of them hold up nobody else's events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from dialroom.outbound_http import OutboundPolicy
from dispatcher import webhooks
from dispatcher.webhooks import STATE_KEY, webhook_client
from tests.integration.test_webhooks import Receiver, deliver_until, place, sender_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

DEV = OutboundPolicy(allow_loopback=True)
ALLOWED = OutboundPolicy(allowed_hosts=frozenset({"localhost"}))


@dataclass
class Trickler:
    """Answers 200 with a long body sent one byte every 0.1 s, until `stop`."""

    ports: list[int] = field(default_factory=list)
    accepted: int = 0
    open: int = 0
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            while not self.stopped.is_set():
                writer.write(b"x")
                await writer.drain()
                try:
                    await asyncio.wait_for(self.stopped.wait(), 0.1)
                except TimeoutError:
                    pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()

    def url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[index]}/hook"


async def trickling(count: int) -> AsyncIterator[Trickler]:
    found = Trickler()
    servers = [await asyncio.start_server(found.handle, "127.0.0.1", 0) for _ in range(count)]
    found.ports = [server.sockets[0].getsockname()[1] for server in servers]
    yield found
    found.stopped.set()
    for server in servers:
        server.close()


@pytest.fixture
async def trickler() -> AsyncIterator[Trickler]:
    async for found in trickling(1):
        yield found


@pytest.fixture
async def tricklers() -> AsyncIterator[Trickler]:
    async for found in trickling(100):
        yield found


@pytest.fixture
async def pooled(redis_url: str) -> AsyncIterator[Redis]:
    """Redis as the dispatcher opens it: a burst of deliveries waits for a connection."""
    client = Redis.from_pool(BlockingConnectionPool.from_url(redis_url, decode_responses=True))
    yield client
    await client.aclose()


async def sent(store: Redis, call_id: str) -> int:
    return int(await store.hget(STATE_KEY.format(call_id=call_id), "sent") or 0)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_loopback_receiver_is_refused_outside_development_mode(
    store: Redis, receiver: Receiver, host: str
) -> None:
    url = receiver.base_url.replace("127.0.0.1", host) + "/hook"
    call_id = await place(store, url)
    await webhooks.wake(store, call_id)
    async with webhook_client(OutboundPolicy()) as http:
        sender = sender_for(store, http, max_attempts=2)
        deadline = asyncio.get_running_loop().time() + 15
        while await sent(store, call_id) < 1:  # given up after its two refused tries
            assert asyncio.get_running_loop().time() < deadline, "never given up"
            await sender.deliver_due()
            await asyncio.sleep(0.02)
        await sender.drain()
    assert receiver.received == []


@pytest.mark.parametrize(
    ("policy", "host"),
    [(DEV, "127.0.0.1"), (DEV, "localhost"), (ALLOWED, "localhost")],
)
async def test_a_loopback_receiver_gets_its_webhook_in_development_mode_or_when_allowed(
    store: Redis, receiver: Receiver, policy: OutboundPolicy, host: str
) -> None:
    call_id = await place(store, receiver.base_url.replace("127.0.0.1", host) + "/hook")
    await webhooks.wake(store, call_id)
    async with webhook_client(policy) as http:
        await deliver_until(sender_for(store, http), lambda: len(receiver.received) == 1)
    assert receiver.ids() == [f"{call_id}:1"]


async def test_a_trickling_receiver_fails_the_try_at_the_deadline(
    store: Redis, trickler: Trickler
) -> None:
    call_id = await place(store, trickler.url())
    await webhooks.wake(store, call_id)
    async with webhook_client(DEV) as http:
        sender = sender_for(store, http, max_attempts=2, deadline_s=0.5)
        deadline = asyncio.get_running_loop().time() + 15
        while await sent(store, call_id) < 1:  # two tries, each cut at the deadline
            assert asyncio.get_running_loop().time() < deadline, "the trickle held the webhook"
            await sender.deliver_due()
            await asyncio.sleep(0.02)
        await sender.drain()
    assert trickler.accepted == 2


async def test_a_hundred_trickling_receivers_hold_up_no_other_call(
    pooled: Redis, tricklers: Trickler, receiver: Receiver
) -> None:
    store = pooled
    slow = [await place(store, tricklers.url(i)) for i in range(100)]
    for call_id in slow:
        await webhooks.wake(store, call_id)
    async with webhook_client(DEV) as http:
        # A deadline longer than this test: the fast call cannot wait the slow ones out.
        sender = sender_for(store, http, deadline_s=300)
        deadline = asyncio.get_running_loop().time() + 30
        while tricklers.open < 100:  # every slow receiver holds a connection
            assert asyncio.get_running_loop().time() < deadline, "slow receivers not reached"
            await sender.deliver_due()
            await asyncio.sleep(0.02)

        fast = await place(store, f"{receiver.base_url}/fast")
        await webhooks.wake(store, fast)
        while not receiver.ids("/fast"):
            assert asyncio.get_running_loop().time() < deadline, "the fast call was held up"
            await sender.deliver_due()
            await asyncio.sleep(0.02)
        assert tricklers.open == tricklers.accepted == 100  # all still on their first try
        tricklers.stopped.set()
        await sender.drain()
    assert receiver.ids("/fast") == [f"{fast}:1"]
