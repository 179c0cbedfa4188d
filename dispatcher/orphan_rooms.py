"""Rooms a killed livekit-server left behind, handed to a live node to close.

Why: livekit-server keeps each room's record, and the node that hosts it, in LiveKit's Redis.
When the server is SIGKILLed (a crash, the OOM killer), the records of its rooms stay: ListRooms
still lists them, with the participant count they had, and no node ever closes them. Every
request that must reach a room's node (ListDispatch, DeleteRoom) waits 3 s and fails with 503
`unavailable` ("no response from servers"). The dispatcher's sweeps read those rooms: one
looked like an inbound caller waiting, its ListDispatch failed the whole sweep every 5 s, and
the calls a dead worker left were never failed (`tests/e2e/test_crash_matrix.py` caught it).

What works, read in livekit-server v1.13.5 (`service/roomallocator.go`) and checked against it
(`tests/e2e/test_orphan_rooms.py`): CreateRoom gives a room whose node is gone to a live node,
which closes it at its empty timeout as a room nobody joined, and its record goes with it. A
participant who rejoins does the same, so a room found orphaned had nobody coming back.
"""

from __future__ import annotations

import logging

from livekit import api

logger = logging.getLogger("dialroom.dispatcher")

CLOSE_S = 5  # the empty timeout a handed-over room gets: it closes at the live node's next look


def orphaned(err: api.TwirpError) -> bool:
    """Whether `err`, from a request that had to reach a listed room's node, says no node
    has the room."""
    return err.code == api.TwirpErrorCode.UNAVAILABLE


async def hand_over(lk: api.LiveKitAPI, room: str) -> None:
    """Give `room` to a live node, which closes it (see the module)."""
    created = await lk.room.create_room(api.CreateRoomRequest(name=room, empty_timeout=CLOSE_S))
    logger.warning(  # the sid, not the name: an inbound room's name carries the caller's number
        "room %s: the livekit-server that hosted it is gone; handed to a live one to close",
        created.sid,
    )


async def room_dispatches(lk: api.LiveKitAPI, room: str) -> list[api.AgentDispatch] | None:
    """A listed `room`'s agent dispatches (its node answers), or None when no live node has
    it: then it is handed over."""
    try:
        return await lk.agent_dispatch.list_dispatch(room_name=room)
    except api.TwirpError as err:
        if not orphaned(err):
            raise
    await hand_over(lk, room)
    return None
