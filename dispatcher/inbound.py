"""Dispatching again an inbound call that no worker took.

An inbound call's room is made by livekit-sip, and livekit-server creates its agent dispatch
from the SIP dispatch rule (`sip/provision.py`). It offers the job once: when no worker is
registered at that moment (all restarting or draining, or none started yet) it logs "not
dispatching agent job since no worker is available", and the dispatch stays with no job, for
good, while the caller rings into nothing.

So the dispatcher looks, every few seconds, at the rooms named with `INBOUND_PREFIX`: a room
with a SIP participant (the caller) whose dispatch for our agent has had no job for
`GRACE_S`, at a moment when some worker has a free line, gets that dispatch deleted and
created again with the same metadata, which makes livekit-server offer it afresh. Nothing is
done while no worker has a free line: the next look, once one has, dispatches it. Outbound
calls' rooms carry a `DialRequest` in their dispatch and are left to `dispatcher.redispatch`.
"""

from __future__ import annotations

import logging
import time

from livekit import api
from pydantic import ValidationError
from redis.asyncio import Redis

from dialroom.dial import DialRequest
from dialroom.worker_lines import free_lines

logger = logging.getLogger("dialroom.dispatcher")

INBOUND_PREFIX = "call-"  # the room prefix of the SIP dispatch rules Dialroom writes
GRACE_S = 3.0  # a dispatch this old with no job was not taken (a job is made in milliseconds)


async def redispatch_inbound(
    redis: Redis, lk: api.LiveKitAPI, *, agent_name: str, now: float | None = None
) -> int:
    """Dispatch again every waiting inbound call's untaken dispatch; return how many."""
    now = time.time() if now is None else now
    rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
    again = 0
    for room in rooms:
        if not room.name.startswith(INBOUND_PREFIX) or room.num_participants != 1:
            continue  # the caller alone; an agent in the room makes two (a live call)
        untaken = await _untaken(lk, room.name, agent_name, now)
        if untaken is None or not await _caller_waiting(lk, room.name):
            continue
        if await free_lines(redis) <= 0:
            return again  # no worker could take it now; the next look tries again
        await _dispatch_again(lk, untaken)
        again += 1
    return again


async def _untaken(
    lk: api.LiveKitAPI, room: str, agent_name: str, now: float
) -> api.AgentDispatch | None:
    """The room's inbound dispatch for our agent, if no job was ever made for it."""
    ours = [
        d
        for d in await lk.agent_dispatch.list_dispatch(room_name=room)
        if d.agent_name == agent_name
    ]
    if any(d.state.jobs for d in ours) or any(_outbound(d) for d in ours):
        return None
    waiting = [d for d in ours if now - d.state.created_at / 1e9 >= GRACE_S]
    return waiting[0] if len(waiting) == len(ours) and waiting else None


def _outbound(dispatch: api.AgentDispatch) -> bool:
    try:
        DialRequest.from_metadata(dispatch.metadata)
    except ValidationError:
        return False
    return True


async def _caller_waiting(lk: api.LiveKitAPI, room: str) -> bool:
    found = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    return any(p.kind == api.ParticipantInfo.Kind.SIP for p in found.participants)


async def _dispatch_again(lk: api.LiveKitAPI, dispatch: api.AgentDispatch) -> None:
    await lk.agent_dispatch.delete_dispatch(dispatch.id, dispatch.room)
    await lk.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(
            agent_name=dispatch.agent_name, room=dispatch.room, metadata=dispatch.metadata
        )
    )
    logger.warning("inbound room %s: no worker took its call; dispatched again", dispatch.room)
