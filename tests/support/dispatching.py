"""Running the dispatcher against the real stack in a test: its settings, its LiveKit, the
dispatches it made, and waiting for a call's status."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from livekit import api
from redis.asyncio import Redis

from dialroom import dial_queue
from dialroom.call_status import CallStatus, current_status
from dialroom.dial import DialRequest, OutboundCall
from dialroom.settings import DEV_API_KEY, DEV_API_SECRET
from dispatcher.service import Dispatcher, utc_now
from dispatcher.settings import DispatcherSettings
from tests.support.stack import RunningStack

AGENT = "dialroom"


def settings_for(stack: RunningStack, redis_url: str, **changes: object) -> DispatcherSettings:
    values: dict[str, object] = {
        "livekit_url": stack.state.livekit_url,
        "livekit_api_key": DEV_API_KEY,
        "livekit_api_secret": DEV_API_SECRET,
        "redis_url": redis_url,
        "agent_name": AGENT,
        "dispatcher_name": "test-dispatcher",
        "poll_interval_s": 0.05,
        "claim_idle_s": 0.2,
        "retry_delay_s": 0.2,
        "max_concurrent_calls": 100,
        "wait_for_free_line": False,  # the stack has no workers: no line is ever free
        **changes,
    }
    return DispatcherSettings(**values)  # type: ignore[arg-type]


@asynccontextmanager
async def livekit(stack: RunningStack) -> AsyncIterator[api.LiveKitAPI]:
    async with api.LiveKitAPI(
        url=stack.state.livekit_url, api_key=DEV_API_KEY, api_secret=DEV_API_SECRET
    ) as lk:
        yield lk


async def dispatched(stack: RunningStack, call_id: str) -> list[DialRequest]:
    """The dial requests of every agent dispatch in the call's room (none if no room)."""
    room = f"call-{call_id}"
    async with livekit(stack) as lk:
        rooms = await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))
        if not rooms.rooms:
            return []
        found = await lk.agent_dispatch.list_dispatch(room_name=room)
    return [DialRequest.from_metadata(d.metadata) for d in found if d.agent_name == AGENT]


async def place(store: Redis, **changes: object) -> str:
    order = OutboundCall.model_validate({"to_number": "+14155550123", "persona": "demo", **changes})
    return (await dial_queue.enqueue(store, order)).call_id


async def status(store: Redis, call_id: str) -> CallStatus | None:
    now = await current_status(store, call_id)
    return now.status if now else None


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 15) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def dispatcher_running(
    settings: DispatcherSettings, store: Redis, clock: Callable[[], datetime] = utc_now
) -> AsyncIterator[None]:
    dispatcher = Dispatcher(settings, redis=store, clock=clock)
    task = asyncio.create_task(dispatcher.run())
    try:
        yield
    finally:
        dispatcher.stop()
        await asyncio.wait([task], timeout=10)
        assert task.done(), "the dispatcher did not stop"


def is_(store: Redis, call_id: str, wanted: CallStatus) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await status(store, call_id) == wanted

    return check


async def stream_empty(store: Redis) -> bool:
    """Every queued call has been taken off the dial queue."""
    return int(await store.xlen(dial_queue.QUEUE_STREAM)) == 0


def poison_yaml(depth: int = 50_000) -> str:
    """A persona file the YAML parser itself crashes on (RecursionError): a queue entry that
    fails with an exception nobody planned for."""
    return "name: legacy\nflow: " + "[" * depth + "]" * depth + "\n"
