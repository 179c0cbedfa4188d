"""One agent per call: an inbound job for a room that a live worker already serves is turned
down.

Why: when livekit-server dies and is started again, livekit-sip reconnects the caller, LiveKit
re-creates the room, and the SIP dispatch rule sends a new agent into it. If the agent that
had the call rejoined the re-created room (its worker reconnected), the caller would hear two
agents at once. Every worker names the rooms its jobs serve in its heartbeat
(`dialroom.worker_lines`, `worker.heartbeat`); a room still named by a live lease has its agent,
so the new job is rejected for good (no other worker takes it either).

Only inbound jobs are checked: an outbound call dispatched again is stopped by its dial gate
(`claim_dial`), and a call re-dispatched after its worker died must not wait for the dead
worker's lease to run out. When Redis cannot be read the job is taken: a caller who would
otherwise hear nothing matters more than a rare second agent.
"""

from __future__ import annotations

import logging

from livekit.agents import JobRequest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from dialroom import worker_lines
from dialroom.dial import InboundDispatch
from worker.dispatch import read_dispatch
from worker.heartbeat import lease_client

logger = logging.getLogger("dialroom.worker")


class ServedRooms:
    """Answers "does a live worker already serve this job's room?" from the leases."""

    def __init__(self, redis_url: str) -> None:
        self._redis_url = redis_url
        self._redis: Redis | None = None  # opened on the worker's loop, at the first job

    async def served(self, room: str) -> bool:
        if self._redis is None:
            self._redis = lease_client(self._redis_url)
        try:
            return room in (await worker_lines.leases(self._redis)).live_rooms
        except (RedisError, OSError) as err:
            logger.warning("cannot tell whether room %s has its agent: %s", room, err)
            return False

    async def turned_down(self, request: JobRequest) -> bool:
        """Reject `request` when it is an inbound call whose room already has its agent."""
        if not isinstance(read_dispatch(request.job.metadata), InboundDispatch):
            return False
        if not await self.served(request.room.name):
            return False
        logger.warning("room %s already has its agent: job turned down", request.room.name)
        await request.reject(terminate=True)
        return True
