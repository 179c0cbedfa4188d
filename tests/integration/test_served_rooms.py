"""One agent per call: an inbound job for a room a live worker's lease still names is turned
down for good (`worker.served_rooms`), against a real redis-server.

This is what follows a livekit-server restart: livekit-sip reconnects the caller, the room is
re-created and the dispatch rule sends a new agent, while the agent that had the call may
rejoin the same room."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from livekit.agents import JobRequest
from livekit.protocol import agent, models
from redis.asyncio import Redis

from dialroom import worker_lines
from dialroom.dial import DialRequest
from tests.support.redis_server import redis_server
from worker.served_rooms import ServedRooms

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class Offer:
    """A real `JobRequest` for `room`, remembering how the worker answered it."""

    def __init__(self, room: str, metadata: str = "") -> None:
        self.answer: str | None = None
        job = agent.Job(id="AJ_1", room=models.Room(name=room), metadata=metadata)
        self.request = JobRequest(job=job, on_reject=self._rejected, on_accept=self._accepted)

    async def _rejected(self, terminate: bool) -> None:
        self.answer = f"rejected terminate={terminate}"

    async def _accepted(self, _args: object) -> None:
        self.answer = "accepted"


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    with redis_server(tmp_path / "redis", appendonly=False) as port:
        yield f"redis://127.0.0.1:{port}/0"


async def serve(url: str, worker_id: str, rooms: list[str]) -> None:
    client = Redis.from_url(url, decode_responses=True)
    try:
        await worker_lines.beat(client, worker_id, free=1, rooms=rooms)
    finally:
        await client.aclose()


async def test_an_inbound_job_for_a_room_with_its_agent_is_turned_down(redis_url: str) -> None:
    await serve(redis_url, "w-old", ["call-_+1555_abc"])
    offer = Offer("call-_+1555_abc")
    assert await ServedRooms(redis_url).turned_down(offer.request)
    assert offer.answer == "rejected terminate=True", "no other worker may take it either"


async def test_an_inbound_job_for_a_new_room_goes_on(redis_url: str) -> None:
    await serve(redis_url, "w-old", ["call-_+1555_abc"])
    offer = Offer("call-_+1555_xyz")
    assert not await ServedRooms(redis_url).turned_down(offer.request)
    assert offer.answer is None, "left to the worker's lines"


async def test_an_outbound_job_is_left_to_its_dial_gate(redis_url: str) -> None:
    request = DialRequest(call_id="crash-1", to_number="+15551234567", persona="demo")
    await serve(redis_url, "w-old", [request.room_name])
    offer = Offer(request.room_name, request.dispatch_metadata())
    assert not await ServedRooms(redis_url).turned_down(offer.request)


async def test_a_redis_out_of_reach_never_costs_the_caller_their_agent() -> None:
    offer = Offer("call-_+1555_abc")
    assert not await ServedRooms("redis://127.0.0.1:1/0").turned_down(offer.request)
