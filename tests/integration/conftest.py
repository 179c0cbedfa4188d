"""Fixtures shared by the integration tests that dispatch calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis

from dialroom.outbound_http import OutboundPolicy
from dispatcher.webhooks import webhook_client
from tests.support.stack import RunningStack, start_stack
from tests.support.webhook_receiver import Receiver, running_receiver


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # No workers: dispatches stay where they are put, so no line is ever free.
    env = {"WAIT_FOR_FREE_LINE": "false"}
    running = start_stack(tmp_path_factory.mktemp("dispatch"), num_agents=0, env=env)
    yield running
    running.stop()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver on loopback that records every delivery."""
    async with running_receiver() as found:
        yield found


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The dispatcher's own webhook client, in development mode: the receiver is on loopback."""
    async with webhook_client(OutboundPolicy(allow_loopback=True)) as client:
        yield client
