"""Placing an outbound call on the real stack the way the dispatcher does (a room and an agent
dispatch carrying the DialRequest), and waiting for its last status."""

from __future__ import annotations

import asyncio
import time

import redis
from livekit import api

from dialroom.call_status import TERMINAL, CallStatus, status_history
from dialroom.dial import DialRequest
from dialroom.settings import DEV_API_KEY, DEV_API_SECRET
from tests.support.stack import RunningStack
from tests.support.statuses import begin, walk

CALLEE = "+15551234567"


def place(stack: RunningStack, call_id: str, *, persona: str = "demo") -> DialRequest:
    request = DialRequest(call_id=call_id, to_number=CALLEE, persona=persona, caller_name="Sam")

    mark_dispatched(stack, call_id, attempt=request.attempt)

    async def dispatch() -> None:
        async with api.LiveKitAPI(
            url=stack.state.livekit_url, api_key=DEV_API_KEY, api_secret=DEV_API_SECRET
        ) as lk:
            await lk.room.create_room(api.CreateRoomRequest(name=request.room_name))
            await lk.agent_dispatch.create_dispatch(
                api.CreateAgentDispatchRequest(
                    agent_name="dialroom",
                    room=request.room_name,
                    metadata=request.dispatch_metadata(),
                )
            )

    asyncio.run(dispatch())
    return request


def mark_dispatched(stack: RunningStack, call_id: str, *, attempt: int = 1) -> None:
    """The statuses the API and the dispatcher write before a dispatch: queued, then dialing."""

    async def write() -> None:
        async with redis.asyncio.Redis(port=stack.redis_port) as client:
            await begin(client, call_id, attempt=attempt)
            await walk(client, call_id, CallStatus.DIALING, attempt=attempt)

    asyncio.run(write())


def wait_terminal(stack: RunningStack, call_id: str, timeout: float = 90) -> list[CallStatus]:
    async def history() -> list[CallStatus]:
        client = redis.asyncio.Redis(port=stack.redis_port)
        try:
            return [e.status for e in await status_history(client, call_id)]
        finally:
            await client.aclose()

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = asyncio.run(history())
        if statuses and statuses[-1] in TERMINAL:
            return statuses
        time.sleep(0.5)
    raise AssertionError(f"call {call_id} never ended: {asyncio.run(history())}")
