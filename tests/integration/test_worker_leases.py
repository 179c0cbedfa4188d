"""Workers' leases in Redis (`worker.heartbeat`, `dialroom.worker_lines`), against a real
redis-server that the tests pause with SIGSTOP, as an overloaded or stalled Redis would be.

A worker whose lease runs out is dead and its calls are ended; but Redis out of reach for
longer than a lease proves nobody dead, and must end no call once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from dialroom import worker_lines
from tests.support.redis_server import redis_process
from worker.heartbeat import Heartbeat, lease_client

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LEASE_MS = 2000  # short, so that a pause several leases long stays a short test
LEASE_S = LEASE_MS / 1000


class Worker:
    """A worker as far as its lines go: the rooms of its live calls, and the calls it ended."""

    def __init__(self, url: str, worker_id: str, rooms: list[str]) -> None:
        self.redis = lease_client(url)
        self.rooms = rooms
        self.ended: list[str] = []
        self.heartbeat = Heartbeat(
            self.redis,
            free=lambda: 1,
            rooms=lambda: self.rooms,
            end_call=self._end_call,
            lease_ms=LEASE_MS,
        )
        self.heartbeat.worker_id = worker_id

    async def _end_call(self, room: str) -> None:
        self.ended.append(room)


@pytest.fixture
def paused_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with redis_process(tmp_path / "redis", appendonly=False) as (port, process):
        yield f"redis://127.0.0.1:{port}/0", process


@asynccontextmanager
async def workers(url: str, *rooms: list[str]) -> AsyncIterator[list[Worker]]:
    made = [Worker(url, f"w{i}", list(r)) for i, r in enumerate(rooms)]
    try:
        yield made
    finally:
        for worker in made:
            await worker.redis.aclose()


async def beat_for(seconds: float, *beating: Worker) -> None:
    """Each worker beats every 0.1 s, in order, for `seconds`."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while loop.time() < until:
        for worker in beating:
            await worker.heartbeat.beat()
        await asyncio.sleep(0.1)


async def outage(process: subprocess.Popen[bytes], seconds: float) -> None:
    process.send_signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        process.send_signal(signal.SIGCONT)


async def test_a_dead_worker_s_calls_are_ended_and_it_is_forgotten(
    paused_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, _ = paused_redis
    async with workers(url, ["room-a"], ["room-b1", "room-b2"]) as (a, b):
        await beat_for(LEASE_S + 0.5, a, b)
        assert a.ended == b.ended == []
        await beat_for(LEASE_S * 2, a)  # b dies: its lease runs out
        assert sorted(a.ended) == ["room-b1", "room-b2"]
        assert await a.redis.zrange(worker_lines.BEATS, 0, -1) == ["w0"], "b is forgotten"
        assert await worker_lines.free_lines(a.redis) == 1


async def test_redis_out_of_reach_for_several_leases_ends_no_call(
    paused_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = paused_redis
    async with workers(url, ["room-a"], ["room-b"]) as (a, b):
        await beat_for(LEASE_S + 0.5, a, b)  # both have reaped nothing for a whole lease
        await outage(process, LEASE_S * 3)
        # Back: a beats first and finds b's lease long run out, yet b is alive.
        await beat_for(LEASE_S * 2, a, b)
        assert a.ended == b.ended == [], "a live worker's calls were ended"
        # ...while a worker that really died after the outage is still reaped.
        await beat_for(LEASE_S * 2, a)
        assert a.ended == ["room-b"]


async def test_the_heartbeat_loop_outlives_a_paused_redis(
    paused_redis: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = paused_redis
    async with workers(url, ["room-a"], ["room-b"]) as (a, b):
        loops = [asyncio.create_task(w.heartbeat.run()) for w in (a, b)]
        try:
            await asyncio.sleep(LEASE_S)
            await outage(process, LEASE_S * 3)  # every heartbeat times out meanwhile
            loops[1].cancel()  # b dies; a, back in touch with Redis, must still notice
            deadline = asyncio.get_running_loop().time() + 30
            while a.ended != ["room-b"]:
                assert asyncio.get_running_loop().time() < deadline, "a never reaped b"
                await asyncio.sleep(0.1)
        finally:
            for loop in loops:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
