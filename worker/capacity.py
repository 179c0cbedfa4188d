"""How many calls a worker takes, what a caller hears when every line is taken, and what
becomes of a dead worker's calls.

A worker reports itself full at MAX_CALLS_PER_WORKER + 1 calls: the extra slot is never a
conversation. With `WHEN_FULL=message` it tells one more inbound caller that all lines are
busy and hangs up; with `WHEN_FULL=reject` it ends the call before the SIP bridge answers it,
which the bridge turns into `486 Busy Here` for the caller's carrier. Either way a full box
answers at once instead of ringing into silence.

The overflow slot is only for when *every* worker is full. LiveKit offers a call to a worker
drawn at random, weighted by the load each one last reported (every 2.5 s), so a full worker
can be offered a call while another still has a free line. Each worker therefore keeps its
count of free lines in Redis, refreshed every HEARTBEAT_S and expiring soon after the worker
dies; a full worker declines a call while another one has a free line, and LiveKit offers the
call to the next worker.

A worker that dies without draining (SIGKILL, the OOM killer, a lost host) cannot hang up:
its callers would sit in silence, because the SIP leg stays in the room after the agent is
gone. Each worker also keeps the list of rooms it serves in Redis, under a lease it renews
with every heartbeat; every live worker ends the calls of a worker whose lease ran out.
"""

from __future__ import annotations

import asyncio
import json
import logging

from livekit import api
from livekit.agents import AgentServer, JobContext, JobRequest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from dialroom.worker_lines import free_lines, key, worker_ids
from worker.settings import WorkerSettings

logger = logging.getLogger("dialroom.capacity")

OVERFLOW_ATTRIBUTE = "dialroom.overflow"
HEARTBEAT_S = 0.5
# A dead worker's free lines stop counting after this. Not shorter: a worker busy loading
# models on a loaded box can miss a few heartbeats, and a live worker's lines that drop out
# of the count make a full worker tell a caller "all lines busy" while a line is free.
FREE_LINES_TTL_MS = 4000
LEASE_TTL_MS = 8000  # a worker silent this long is dead: its calls are ended
ROOMS_TTL_S = 3600  # a dead worker's room list, kept until a live worker reaps it


def load(server: AgentServer, max_calls: int) -> float:
    return len(server.active_jobs) / (max_calls + 1)


class Lines:
    """One worker's lines, shared through Redis: its answer to each offered call, and the
    clean-up of dead workers' calls."""

    def __init__(self, server: AgentServer, settings: WorkerSettings) -> None:
        self._server = server
        self._settings = settings
        self._max_calls = settings.max_calls_per_worker
        self._redis: Redis | None = None
        self._livekit: api.LiveKitAPI | None = None
        self._worker_id = ""
        self._heartbeat: asyncio.Task[None] | None = None
        server.on("worker_registered", self._registered)

    def _registered(self, worker_id: str, _info: object) -> None:
        # Runs on the worker's event loop, again after each reconnection (with a new id).
        self._worker_id = worker_id
        if self._heartbeat is None:
            self._redis = Redis.from_url(self._settings.redis_url)
            self._livekit = api.LiveKitAPI(
                url=self._settings.livekit_url,
                api_key=self._settings.livekit_api_key,
                api_secret=self._settings.livekit_api_secret,
            )
            self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    def free_lines(self) -> int:
        if self._server.draining:
            return 0
        return max(0, self._max_calls - len(self._server.active_jobs))

    async def on_request(self, request: JobRequest) -> None:
        if len(self._server.active_jobs) < self._max_calls:
            await request.accept()
            await self._publish_free(self.free_lines() - 1)  # the call is not running yet
            return
        if await self._others_free() > 0:
            logger.info("full: leaving room %s to a worker with a free line", request.room.name)
            await request.reject(terminate=False)  # LiveKit offers it to another worker
            return
        await request.accept(attributes={OVERFLOW_ATTRIBUTE: "true"})

    async def _beat(self) -> None:
        while True:
            try:
                await self._publish_free(self.free_lines())
                await self._publish_rooms()
                await self._reap_dead_workers()
            except RedisError as err:
                logger.warning("cannot share this worker's lines in Redis: %s", err)
            await asyncio.sleep(HEARTBEAT_S)

    async def _publish_free(self, free: int) -> None:
        if self._redis is None or not self._worker_id:
            return
        await self._redis.set(
            key(self._worker_id, "free_lines"), max(0, free), px=FREE_LINES_TTL_MS
        )

    async def _publish_rooms(self) -> None:
        assert self._redis is not None
        rooms = sorted({job.job.room.name for job in self._server.active_jobs})
        async with self._redis.pipeline(transaction=True) as tx:
            tx.set(key(self._worker_id, "lease"), 1, px=LEASE_TTL_MS)
            tx.set(key(self._worker_id, "rooms"), json.dumps(rooms), ex=ROOMS_TTL_S)
            await tx.execute()

    async def _others_free(self) -> int:
        """Free lines of the other live workers; 0 when unknown, so the caller is answered."""
        if self._redis is None:
            return 0
        try:
            return await free_lines(self._redis, besides=self._worker_id)
        except RedisError as err:
            logger.warning("cannot read other workers' free lines: %s", err)
            return 0

    async def _reap_dead_workers(self) -> None:
        """End the calls of every worker whose lease ran out (any live worker may do it; a
        room deleted twice is harmless). A room a live worker still serves is left alone."""
        assert self._redis is not None
        dead: dict[str, list[str]] = {}
        live_rooms: set[str] = set()
        async for worker_id in worker_ids(self._redis, "rooms"):
            rooms = json.loads(await self._redis.get(key(worker_id, "rooms")) or "[]")
            if await self._redis.exists(key(worker_id, "lease")):
                live_rooms.update(rooms)
            else:
                dead[worker_id] = rooms
        for worker_id, rooms in dead.items():
            await self._redis.delete(key(worker_id, "rooms"))
            for room in sorted(set(rooms) - live_rooms):
                logger.warning("worker %s is gone: ending its call in room %s", worker_id, room)
                await self._delete_room(room)

    async def _delete_room(self, room: str) -> None:
        assert self._livekit is not None
        try:
            await self._livekit.room.delete_room(api.DeleteRoomRequest(room=room))
        except api.TwirpError as err:
            if err.code != api.TwirpErrorCode.NOT_FOUND:
                logger.warning("cannot end the call in room %s: %s", room, err)


def is_overflow(ctx: JobContext) -> bool:
    return (ctx.token_claims().attributes or {}).get(OVERFLOW_ATTRIBUTE) == "true"


async def reject(ctx: JobContext) -> None:
    """Turn the caller away unanswered: the bridge is still ringing (it answers only once the
    agent publishes audio), so deleting the room makes it fail the INVITE with 486 Busy Here."""
    await ctx.delete_room()
