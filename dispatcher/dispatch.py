"""LiveKit's side of a dispatch: the call's room, and one agent dispatch per call attempt.

`dispatch_once` is idempotent: it looks at the room's dispatches first and creates none when
one already carries this call and attempt (a dispatcher killed after dispatching, before
acknowledging, comes back to a job that is already done). A `fresh` attempt skips that look:
the caller has just moved the call to `dialing` itself, and no dispatch of an attempt is ever
created before its move to `dialing` (a compare-and-set that succeeds once per attempt), so
there is nothing to find; and it is one request: a first attempt's `CreateRoom` carrying the
dispatch, a later attempt's `CreateAgentDispatch` (see `_create_dispatch`), one LiveKit round
trip on the queue's path instead of three. A retry after a failed request is never fresh (the
request may have reached LiveKit).
"""

from __future__ import annotations

import aiohttp
from livekit import api
from pydantic import ValidationError

from dialroom.dial import DialRequest


class DispatchRefused(Exception):
    """LiveKit said no for a reason a retry will not fix (a 4xx): the call fails."""


# Failures that may pass: LiveKit restarting, a network blip, a 5xx. The job is retried.
TRANSIENT = (aiohttp.ClientError, OSError, TimeoutError)


def carries(dispatch: api.AgentDispatch, request: DialRequest) -> bool:
    try:
        carried = DialRequest.from_metadata(dispatch.metadata)
    except ValidationError:
        return False
    return carried.call_id == request.call_id and carried.attempt == request.attempt


async def dispatch_once(
    lk: api.LiveKitAPI,
    request: DialRequest,
    *,
    agent_name: str,
    empty_timeout_s: int,
    fresh: bool = False,
) -> bool:
    """Make sure the attempt has its room and one agent dispatch; True if this call created it.

    Raises `DispatchRefused` for a 4xx (but 429), and the TRANSIENT errors or a `TwirpError`
    (5xx, 429) for failures worth retrying.
    """
    try:
        if fresh and request.attempt == 1 and empty_timeout_s:
            await _create_room_with_dispatch(lk, request, agent_name, empty_timeout_s)
            return True
        if fresh:
            await _create_dispatch(lk, request, agent_name, empty_timeout_s=empty_timeout_s)
            return True
        await lk.room.create_room(
            api.CreateRoomRequest(name=request.room_name, empty_timeout=empty_timeout_s)
        )
        existing = await lk.agent_dispatch.list_dispatch(room_name=request.room_name)
        if any(carries(d, request) for d in existing):
            return False
        await _create_dispatch(lk, request, agent_name)
    except api.TwirpError as err:
        if 400 <= err.status < 500 and err.status != 429:
            why = f"LiveKit refused the dispatch: {err.code}: {err.message}"
            raise DispatchRefused(why) from err
        raise
    return True


async def _create_dispatch(
    lk: api.LiveKitAPI, request: DialRequest, agent_name: str, *, empty_timeout_s: int = 0
) -> None:
    """One `CreateAgentDispatch`. Given `empty_timeout_s` (a fresh attempt), the room is not
    created first: livekit-server (v1.13.5, `AgentDispatchService.CreateDispatch`) creates a
    missing room itself when `room.auto_create` is on (its default), with livekit.yaml's
    `room.empty_timeout` (`stack.configs` renders ROOM_EMPTY_TIMEOUT_S there), and adds the
    dispatch to a room that exists and launches its job, so a retry reusing the room name is
    dispatched too. With `auto_create` off it answers not_found: the room is created then."""
    dispatch = api.CreateAgentDispatchRequest(
        agent_name=agent_name, room=request.room_name, metadata=request.dispatch_metadata()
    )
    try:
        await lk.agent_dispatch.create_dispatch(dispatch)
    except api.TwirpError as err:
        if not empty_timeout_s or err.code != api.TwirpErrorCode.NOT_FOUND:
            raise
        await lk.room.create_room(
            api.CreateRoomRequest(name=request.room_name, empty_timeout=empty_timeout_s)
        )
        await lk.agent_dispatch.create_dispatch(dispatch)


async def _create_room_with_dispatch(
    lk: api.LiveKitAPI, request: DialRequest, agent_name: str, empty_timeout_s: int
) -> None:
    """A call's first attempt: its room (named for the new call id, so it does not exist yet)
    created with the dispatch in its configuration, one round trip as `CreateAgentDispatch`.
    Why not that: a room livekit-server creates without dispatches in its configuration gets
    a default one for agent name "" (v1.13.5, `rtc/room.go: createAgentDispatchesFromRoomAgent`),
    whose job request waits out psrpc's server selection (1 s, "no response from servers") in
    the agent client's pool of 50, the pool every real job request of a burst goes through.
    A room that exists keeps its configuration (livekit-server reads it only when it builds
    the room), so a later attempt, which reuses the room's name, uses `CreateAgentDispatch`."""
    dispatch = api.RoomAgentDispatch(agent_name=agent_name, metadata=request.dispatch_metadata())
    await lk.room.create_room(
        api.CreateRoomRequest(
            name=request.room_name, empty_timeout=empty_timeout_s, agents=[dispatch]
        )
    )
