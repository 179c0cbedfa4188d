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
count of free lines in Redis (`dialroom.worker_lines`), refreshed with its heartbeat and
ignored soon after the worker dies; a full worker declines a call while another one has a
free line, and LiveKit offers the call to the next worker. A full worker declines every
outbound call: the overflow slot is for telling a caller, not for dialling one.

Each worker's heartbeat, and the end of a dead worker's calls, are `worker.heartbeat`.
"""

from __future__ import annotations

import asyncio
import logging

from livekit import api
from livekit.agents import AgentServer, JobContext, JobRequest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from dialroom import worker_lines
from worker.dispatch import is_outbound
from worker.heartbeat import Heartbeat, lease_client
from worker.settings import WorkerSettings

logger = logging.getLogger("dialroom.capacity")

OVERFLOW_ATTRIBUTE = "dialroom.overflow"


def load(server: AgentServer, max_calls: int) -> float:
    return len(server.active_jobs) / (max_calls + 1)


class Lines:
    """One worker's lines, shared through Redis: its answer to each offered call, and its
    heartbeat (which also ends dead workers' calls)."""

    def __init__(self, server: AgentServer, settings: WorkerSettings) -> None:
        self._server = server
        self._settings = settings
        self._max_calls = settings.max_calls_per_worker
        self._redis: Redis | None = None
        self._heartbeat: Heartbeat | None = None
        self._beating: asyncio.Task[None] | None = None
        server.on("worker_registered", self._registered)

    def _registered(self, worker_id: str, _info: object) -> None:
        # Runs on the worker's event loop, again after each reconnection (with a new id).
        if self._heartbeat is None:
            self._redis = lease_client(self._settings.redis_url)
            self._heartbeat = Heartbeat(
                self._redis, free=self.free_lines, rooms=self._rooms, end_call=self._delete_room
            )
            self._beating = asyncio.get_running_loop().create_task(self._heartbeat.run())
        self._heartbeat.worker_id = worker_id

    @property
    def _worker_id(self) -> str:
        return self._heartbeat.worker_id if self._heartbeat is not None else ""

    def free_lines(self) -> int:
        if self._server.draining:
            return 0
        return max(0, self._max_calls - len(self._server.active_jobs))

    def _rooms(self) -> list[str]:
        return sorted({job.job.room.name for job in self._server.active_jobs})

    async def on_request(self, request: JobRequest) -> None:
        if len(self._server.active_jobs) < self._max_calls:
            await request.accept()
            await self._publish_free(self.free_lines() - 1)  # the call is not running yet
            return
        if is_outbound(request.job.metadata):
            # The overflow slot only tells a caller the lines are busy; a call to dial waits
            # for a line (the dispatcher offers it again if no worker takes it now).
            logger.info("full: leaving the outbound call in room %s for now", request.room.name)
            await request.reject(terminate=False)
            return
        if await self._others_free() > 0:
            logger.info("full: leaving room %s to a worker with a free line", request.room.name)
            await request.reject(terminate=False)  # LiveKit offers it to another worker
            return
        await request.accept(attributes={OVERFLOW_ATTRIBUTE: "true"})

    async def _publish_free(self, free: int) -> None:
        if self._redis is None or not self._worker_id:
            return
        try:
            await worker_lines.set_free(self._redis, self._worker_id, free)
        except RedisError as err:
            logger.warning("cannot share this worker's free lines: %s", err)

    async def _others_free(self) -> int:
        """Free lines of the other live workers; 0 when unknown, so the caller is answered."""
        if self._redis is None:
            return 0
        try:
            return await worker_lines.free_lines(self._redis, besides=self._worker_id)
        except RedisError as err:
            logger.warning("cannot read other workers' free lines: %s", err)
            return 0

    async def _delete_room(self, room: str) -> None:
        # A client per dead worker's call (rare): one held for the worker's life was never
        # closed, and its HTTP session was logged as an error at every shutdown.
        livekit = api.LiveKitAPI(
            url=self._settings.livekit_url,
            api_key=self._settings.livekit_api_key,
            api_secret=self._settings.livekit_api_secret,
        )
        try:
            await livekit.room.delete_room(api.DeleteRoomRequest(room=room))
        except api.TwirpError as err:
            if err.code != api.TwirpErrorCode.NOT_FOUND:
                logger.warning("cannot end the call in room %s: %s", room, err)
        finally:
            await livekit.aclose()


def is_overflow(ctx: JobContext) -> bool:
    return (ctx.token_claims().attributes or {}).get(OVERFLOW_ATTRIBUTE) == "true"


async def reject(ctx: JobContext) -> None:
    """Turn the caller away unanswered: the bridge is still ringing (it answers only once the
    agent publishes audio), so deleting the room makes it fail the INVITE with 486 Busy Here."""
    await ctx.delete_room()
