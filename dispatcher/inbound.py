"""Dispatching again an inbound call that no worker took, and ending one none will take.

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

A caller must not ring for long, though: a carrier gives up after its own ring timeout, and
until then the caller hears nothing. A call whose room is `INBOUND_WAIT_S` old and still has
no job (no worker alive, or every dispatch failed) is ended by deleting its room while the
bridge is still ringing, which livekit-sip turns into `486 Busy Here` (as `WHEN_FULL=reject`
does); it leaves a call record with outcome `no_worker` and a warning without the number.
"""

from __future__ import annotations

import logging
import time

from livekit import api
from pydantic import ValidationError
from redis.asyncio import Redis

from dialroom.calls import CallRecord, save_call_record
from dialroom.dial import DialRequest, InboundDispatch
from dialroom.worker_lines import free_lines
from dispatcher import orphan_rooms

logger = logging.getLogger("dialroom.dispatcher")

INBOUND_PREFIX = "call-"  # the room prefix of the SIP dispatch rules Dialroom writes
GRACE_S = 3.0  # a dispatch this old with no job was not taken (a job is made in milliseconds)
NO_WORKER = "no_worker"  # the outcome of a call ended here


async def redispatch_inbound(
    redis: Redis,
    lk: api.LiveKitAPI,
    *,
    agent_name: str,
    wait_s: float,
    now: float | None = None,
) -> int:
    """Dispatch again every waiting inbound call's untaken dispatch, and end every call that
    waited `wait_s` with none taken; return how many were dispatched again."""
    now = time.time() if now is None else now
    rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
    again = 0
    for room in rooms:
        if not room.name.startswith(INBOUND_PREFIX) or room.num_participants != 1:
            continue  # the caller alone; an agent in the room makes two (a live call)
        try:
            again += await _offer_again(redis, lk, room, agent_name, wait_s, now)
        except api.TwirpError as err:  # this room's trouble; the next room may be fine
            logger.warning("room %s: its waiting caller was not looked at (%s)", room.sid, err)
    return again


async def _offer_again(
    redis: Redis, lk: api.LiveKitAPI, room: api.Room, agent_name: str, wait_s: float, now: float
) -> int:
    """Offer one room's waiting caller again (1), or end the call when it waited too long."""
    untaken = await _untaken(lk, room.name, agent_name)
    caller = await _caller(lk, room.name) if untaken else None
    if caller is None:
        return 0
    if now - _opened_s(room) >= wait_s:
        await _end(redis, lk, room, untaken[0], caller, now)
    elif all(now - _created_s(d) >= GRACE_S for d in untaken) and await free_lines(redis) > 0:
        await _dispatch_again(lk, untaken[0])
        return 1
    return 0


async def _untaken(lk: api.LiveKitAPI, room: str, agent_name: str) -> list[api.AgentDispatch]:
    """The room's inbound dispatches for our agent, if no job was ever made for any of them
    (none for a killed livekit-server's room: nobody waits in it)."""
    dispatches = await orphan_rooms.room_dispatches(lk, room)
    ours = [d for d in dispatches or [] if d.agent_name == agent_name]
    if any(d.state.jobs for d in ours) or any(_outbound(d) for d in ours):
        return []
    return ours


def _opened_s(room: api.Room) -> float:
    return room.creation_time_ms / 1000 or float(room.creation_time)


def _created_s(dispatch: api.AgentDispatch) -> float:
    return dispatch.state.created_at / 1e9  # livekit-server stamps it in nanoseconds


def _outbound(dispatch: api.AgentDispatch) -> bool:
    try:
        DialRequest.from_metadata(dispatch.metadata)
    except ValidationError:
        return False
    return True


async def _caller(lk: api.LiveKitAPI, room: str) -> api.ParticipantInfo | None:
    found = await lk.room.list_participants(api.ListParticipantsRequest(room=room))
    callers = [p for p in found.participants if p.kind == api.ParticipantInfo.Kind.SIP]
    return callers[0] if callers else None


async def _dispatch_again(lk: api.LiveKitAPI, dispatch: api.AgentDispatch) -> None:
    await lk.agent_dispatch.delete_dispatch(dispatch.id, dispatch.room)
    await lk.agent_dispatch.create_dispatch(
        api.CreateAgentDispatchRequest(
            agent_name=dispatch.agent_name, room=dispatch.room, metadata=dispatch.metadata
        )
    )
    logger.warning(  # the dispatch, not the room: a room's name carries the caller's number
        "inbound call of dispatch %s: no worker took its call; dispatched again", dispatch.id
    )


async def _end(
    redis: Redis,
    lk: api.LiveKitAPI,
    room: api.Room,
    dispatch: api.AgentDispatch,
    caller: api.ParticipantInfo,
    now: float,
) -> None:
    """Turn the caller away unanswered (486 Busy Here) and leave the call in the history."""
    await lk.room.delete_room(api.DeleteRoomRequest(room=room.name))
    record = _record(room, dispatch, caller, now)
    await save_call_record(redis, record)
    logger.warning(
        "inbound call %s: no worker took it within %.0f s; ended (486 Busy Here)",
        record.call_id,
        record.duration_s,
        extra={"call_id": record.call_id, "persona": record.persona},
    )


def _record(
    room: api.Room, dispatch: api.AgentDispatch, caller: api.ParticipantInfo, now: float
) -> CallRecord:
    try:
        inbound = InboundDispatch.from_metadata(dispatch.metadata)
    except ValidationError:
        inbound = InboundDispatch()
    return CallRecord(
        call_id=inbound.call_id,
        persona=inbound.persona or "",  # nobody routed it; the rule's default persona if any
        direction="inbound",
        room=room.name,
        caller_number=caller.attributes.get("sip.phoneNumber") or None,
        called_number=caller.attributes.get("sip.trunkPhoneNumber") or None,
        started_at=_opened_s(room),
        ended_at=now,
        outcome=NO_WORKER,
    )
