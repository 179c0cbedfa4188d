"""The dispatch loop is never handed a queue entry whose dispatch its own task still runs
(real Redis): it goes on to the next call, and gets the entry back only once the task let go."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from dialroom import dial_queue
from dialroom.dial import OutboundCall
from dispatcher.stream import DialStream

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def _place(store: Redis) -> str:
    order = OutboundCall.model_validate({"to_number": "+14155550123", "persona": "demo"})
    return (await dial_queue.enqueue(store, order)).call_id


async def test_an_entry_in_flight_is_skipped_then_read_again_once_released(
    store: Redis,
) -> None:
    first, second = await _place(store), await _place(store)
    # claim_idle_ms 0: without the guard, the stale-entry takeover would hand it back too
    stream = DialStream(store, consumer="d1", claim_idle_ms=0)
    await stream.ensure_group()

    held = await stream.next_job(block_ms=10)
    assert held is not None and held.request.call_id == first
    stream.in_flight.add(held.entry_id)

    following = await stream.next_job(block_ms=10)
    assert following is not None and following.request.call_id == second
    stream.in_flight.add(following.entry_id)
    assert await stream.next_job(block_ms=10) is None  # both pending, both held

    stream.in_flight.discard(held.entry_id)  # its task ended without acknowledging it
    again = await stream.next_job(block_ms=10)
    assert again is not None and again.entry_id == held.entry_id
