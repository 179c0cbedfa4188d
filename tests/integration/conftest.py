"""Fixtures shared by the integration tests that dispatch calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from tests.support.stack import RunningStack, start_stack


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
