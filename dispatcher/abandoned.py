"""Failing a dialed call whose worker is gone, instead of leaving it live for an hour.

A worker SIGKILLed mid-call (a crash, the OOM killer) reports no end: its call stays
`dialing`, `ringing` or `answered` until the sweep's timeouts (`dial_timeout_s`, 3 min;
`answered_timeout_s`, 1 h) fail it, and a campaign waits on it all that time. The same holds
for a worker whose last write hit a Redis that was restarting. Yet the call is over: the
other workers end a dead worker's calls by deleting their rooms (`worker.heartbeat`).

So a call that a worker took (its dial gate is claimed) is failed at once when two things
say it is over: no live worker's lease names its room, and its room is gone from LiveKit or
has nobody but agents in it. Either alone proves nothing: every lease runs out while
Dialroom's Redis is away, and a room is briefly missing while livekit-server restarts under a
worker that still serves it. A call younger than `SETTLE_S` is left alone, so a worker's
first heartbeat naming it can land. An empty room counts as gone, and so does one no live
node hosts: livekit-server's record of a room outlives the server (a room it hosted when it
was killed stays listed in LiveKit's Redis, with the participant count it had), and the sweep
hands such a room to a live node to close (`dispatcher.orphan_rooms`).

An inbound (or browser) call has no status: its worker writes its record when it ends, and a
SIGKILLed worker writes none, so the call would never reach the history or `call.ended`. Its
mark (`dialroom.live_calls`, made when its conversation began) is what is left of it. On the
same two proofs, and when no record was written meanwhile, the sweep writes the call's record
from the mark, as the worker would have: outcome `failed` (an outbound call's outcome here
too, from `CallStatus.FAILED`) and `DETAIL`; the archiver then archives it like any inbound
call, which queues `call.ended` and takes the mark off the live list. The record is read
again after the leases: a worker ends its job (and leaves its lease's rooms) only after it
has written the record, so a record not there then was never written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from livekit import api
from redis.asyncio import Redis

from dialroom import live_calls
from dialroom.call_status import CallStatus, current_status, dial_claimed, transition
from dialroom.calls import CallRecord, load_call_record, save_call_record
from dialroom.dial_queue import active_calls, load_request
from dialroom.worker_lines import LEASE_TTL_MS, leases
from dispatcher import orphan_rooms

logger = logging.getLogger("dialroom.dispatcher")

TAKEN = frozenset({CallStatus.DIALING, CallStatus.RINGING, CallStatus.ANSWERED})
SETTLE_S = 2 * LEASE_TTL_MS / 1000
DETAIL = "its worker ended without reporting the call's end (worker or media server lost)"

RoomInUse = Callable[[str], Awaitable[bool]]


async def fail_abandoned(redis: Redis, room_in_use: RoomInUse, *, now: float | None = None) -> int:
    """Fail every taken call no live worker serves and whose room is gone; how many."""
    now = time.time() if now is None else now
    served: frozenset[str] | None = None  # read once, and only when a call is old enough
    failed = 0
    for call_id in await active_calls(redis):
        status = await current_status(redis, call_id)
        if status is None or status.status not in TAKEN or now - status.updated_at < SETTLE_S:
            continue
        if not await dial_claimed(redis, call_id, status.attempts):
            continue  # nobody took it: `dispatcher.redispatch` offers it again
        request = await load_request(redis, call_id)
        if request is None:
            continue
        served = served if served is not None else (await leases(redis)).live_rooms
        if request.room_name in served or await room_in_use(request.room_name):
            continue
        moved = await transition(
            redis,
            call_id,
            CallStatus.FAILED,
            expect={status.status},
            attempt=status.attempts,
            detail=DETAIL,
        )
        if moved.moved:
            failed += 1
            logger.warning("call %s failed: %s", call_id, DETAIL, extra={"call_id": call_id})
    return failed + await end_abandoned_inbound(redis, room_in_use, now=now)


async def end_abandoned_inbound(redis: Redis, room_in_use: RoomInUse, *, now: float) -> int:
    """Write the record of every inbound or browser call whose worker is gone with its room
    and that left no record; how many."""
    served: frozenset[str] | None = None
    ended = 0
    for mark in await live_calls.marked(redis):
        if mark.direction == "outbound" or now - mark.answered_at < SETTLE_S:
            continue  # an outbound call ends by its status, above
        served = served if served is not None else (await leases(redis)).live_rooms
        if mark.room in served or await room_in_use(mark.room):
            continue
        if await load_call_record(redis, mark.call_id) is not None:
            continue  # its worker wrote it: the archiver has it
        await save_call_record(redis, abandoned_record(mark, now))
        ended += 1
        logger.warning(
            "%s call %s failed: %s",
            mark.direction,
            mark.call_id,
            DETAIL,
            extra={"call_id": mark.call_id, "persona": mark.persona},
        )
    return ended


def abandoned_record(mark: live_calls.LiveCall, now: float) -> CallRecord:
    """The record of a call whose worker died, from what was known when it began."""
    return CallRecord(
        call_id=mark.call_id,
        persona=mark.persona,
        direction=mark.direction,
        room=mark.room,
        caller_number=mark.caller_number,
        called_number=mark.called_number,
        trunk=mark.trunk or None,
        started_at=mark.started_at or mark.answered_at,
        answered_at=mark.answered_at,
        ended_at=max(now, mark.answered_at),
        outcome=CallStatus.FAILED.value,
        error=DETAIL,
    )


async def livekit_room_in_use(lk: api.LiveKitAPI, room: str) -> bool:
    """Whether livekit-server has `room` with a caller, callee or web page in it (agents are
    not counted) on a live node (a killed server's room is handed over to close:
    `dispatcher.orphan_rooms`); any other TwirpError is raised, never taken as no."""
    found = (await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms
    if not any(listed.num_participants > 0 for listed in found):
        return False
    return await orphan_rooms.room_dispatches(lk, room) is not None
