"""The dispatcher against a real Redis and a real livekit-server (the stack, with no workers,
so every dispatch stays where it was put and can be counted per room).

Most tests run the dispatcher in this process on the test's own Redis; the crash test runs
it as `python -m dispatcher` and kills it with SIGKILL, again and again, mid-flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from livekit import api
from redis.asyncio import Redis

from dialroom import dial_queue
from dialroom.call_status import (
    CallStatus,
    claim_dial,
    current_status,
    status_history,
)
from dialroom.paths import ROOT
from dialroom.settings import DEV_API_KEY, DEV_API_SECRET, DEV_DIALROOM_API_KEY
from dialroom.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from dispatcher.dispatch import carries, dispatch_once
from dispatcher.service import Dispatcher
from dispatcher.settings import DispatcherSettings
from dispatcher.stream import Job
from tests.support.dispatching import (
    AGENT,
    dispatched,
    dispatcher_running,
    eventually,
    is_,
    livekit,
    place,
    settings_for,
    status,
    stream_empty,
)
from tests.support.stack import RunningStack
from tests.support.statuses import walk

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_an_api_call_becomes_one_agent_dispatch_through_the_stack(
    stack: RunningStack,
) -> None:
    headers = {"X-API-Key": DEV_DIALROOM_API_KEY}
    async with httpx.AsyncClient(base_url=stack.state.api_url, headers=headers) as client:
        assert (await client.get("/health/ready")).json()["livekit"] == "ok"
        body = {"to_number": "+14155550123", "persona": "demo", "caller_name": "Sam"}
        accepted = await client.post("/api/outbound-call", json=body)
        assert accepted.status_code == 202
        call_id = accepted.json()["call_id"]

        async def dialing() -> bool:
            call = (await client.get(f"/api/calls/{call_id}")).json()
            return bool(call["status"] == "dialing")

        async def latency_observed() -> bool:
            metrics = (await client.get("/metrics")).text
            return "dialroom_dial_latency_seconds_count 1.0" in metrics

        await eventually(dialing)
        await eventually(latency_observed)
    [request] = await dispatched(stack, call_id)
    assert request.call_id == call_id and request.caller_name == "Sam"


async def ghost_takes_next_job(settings: DispatcherSettings, store: Redis, call_id: str) -> Job:
    """Another dispatcher ("ghost") reads the next entry and moves the call to dialing; the
    caller decides how far it gets before it dies."""
    ghost = Dispatcher(settings.model_copy(update={"dispatcher_name": "ghost"}), redis=store)
    await ghost.stream.ensure_group()
    job = await ghost.stream.next_job(block_ms=100)
    assert job is not None
    await walk(store, call_id, CallStatus.DIALING, attempt=1)
    return job


async def test_a_redelivered_job_whose_dispatch_exists_is_not_dispatched_again(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    settings = settings_for(stack, redis_url)
    call_id = await place(store)
    # A dispatcher reads the entry, dispatches, and dies before acknowledging it.
    job = await ghost_takes_next_job(settings, store, call_id)
    async with livekit(stack) as lk:
        assert await dispatch_once(lk, job.request, agent_name=AGENT, empty_timeout_s=60)
    await asyncio.sleep(0.3)  # the entry is now idle longer than claim_idle_s

    await Dispatcher(settings, redis=store).run(burst=True)

    assert len(await dispatched(stack, call_id)) == 1
    assert await store.xlen(dial_queue.QUEUE_STREAM) == 0  # taken over and acknowledged


async def test_a_job_that_died_before_its_dispatch_is_dispatched_once(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    settings = settings_for(stack, redis_url)
    call_id = await place(store)
    await ghost_takes_next_job(settings, store, call_id)  # ...and dies right here
    await asyncio.sleep(0.3)

    await Dispatcher(settings, redis=store).run(burst=True)

    assert [r.attempt for r in await dispatched(stack, call_id)] == [1]


def run_dispatcher(stack: RunningStack, redis_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LIVEKIT_URL": stack.state.livekit_url,
        "LIVEKIT_API_KEY": DEV_API_KEY,
        "LIVEKIT_API_SECRET": DEV_API_SECRET,
        "REDIS_URL": redis_url,
        "DISPATCHER_NAME": "crash-test",
        "MAX_CONCURRENT_CALLS": "1000",
        "DIAL_TIMEOUT_S": "600",
        "POLL_INTERVAL_S": "0.05",
        "WAIT_FOR_FREE_LINE": "false",  # no workers in this stack
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dispatcher"], cwd=ROOT, env=env, stdout=out, stderr=out
        )


async def test_a_dispatcher_killed_mid_flight_loses_no_call_and_dispatches_each_once(
    stack: RunningStack, redis_url: str, store: Redis, tmp_path: Path
) -> None:
    calls = [await place(store) for _ in range(40)]
    rng = random.Random(4)
    log = tmp_path / "dispatcher.log"

    async def dialing() -> int:
        return sum([await status(store, c) == CallStatus.DIALING for c in calls])

    for target in (4, 9, 15, 21, 27, 33):  # SIGKILL once this many calls are dialing
        process = run_dispatcher(stack, redis_url, log)
        try:
            await eventually(partial(_at_least, dialing, target), within_s=30)
            await asyncio.sleep(rng.uniform(0, 0.02))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
    done = await dialing()
    assert done < len(calls), "the kills should land before the queue is empty"

    process = run_dispatcher(stack, redis_url, log)
    try:
        await eventually(lambda: _at_least(dialing, len(calls)), within_s=30)
        await eventually(lambda: stream_empty(store), within_s=10)
    finally:
        process.terminate()
        process.wait(timeout=10)

    counts = {c: len(await dispatched(stack, c)) for c in calls}
    assert set(counts.values()) == {1}, {c: n for c, n in counts.items() if n != 1}


async def _at_least(count: Callable[[], Awaitable[int]], target: int) -> bool:
    return await count() >= target


async def test_a_canceled_call_is_never_dispatched(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    canceled, kept = await place(store), await place(store)
    assert (await dial_queue.cancel(store, canceled)).moved

    await Dispatcher(settings_for(stack, redis_url), redis=store).run(burst=True)

    assert await dispatched(stack, canceled) == []
    assert await status(store, canceled) == CallStatus.CANCELED
    assert len(await dispatched(stack, kept)) == 1


async def test_a_scheduled_call_waits_for_its_time(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    settings = settings_for(stack, redis_url)
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    call_id = await place(store, schedule_at=due)

    await Dispatcher(settings, redis=store).run(burst=True)
    assert await status(store, call_id) == CallStatus.SCHEDULED
    assert await dispatched(stack, call_id) == []

    await asyncio.sleep(max(0.0, due.timestamp() - time.time()) + 0.1)
    await Dispatcher(settings, redis=store).run(burst=True)
    assert await status(store, call_id) == CallStatus.DIALING
    assert len(await dispatched(stack, call_id)) == 1


async def test_the_concurrency_cap_holds_calls_back_in_order(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    first, second, third, fourth = [await place(store) for _ in range(4)]
    async with dispatcher_running(settings_for(stack, redis_url, max_concurrent_calls=2), store):
        await eventually(is_(store, second, CallStatus.DIALING))
        await asyncio.sleep(0.3)  # several polls: the cap must hold
        assert await status(store, first) == CallStatus.DIALING
        assert [await status(store, c) for c in (third, fourth)] == [CallStatus.QUEUED] * 2

        # a slot frees up:
        await walk(store, first, CallStatus.ANSWERED, CallStatus.COMPLETED, attempt=1)
        await eventually(is_(store, third, CallStatus.DIALING))
        await asyncio.sleep(0.3)
        assert await status(store, fourth) == CallStatus.QUEUED

        await walk(store, second, CallStatus.FAILED, attempt=1)
        await eventually(is_(store, fourth, CallStatus.DIALING))
        await eventually(lambda: stream_empty(store))  # all dispatched and acknowledged


async def test_busy_is_retried_until_max_attempts_and_failed_is_not(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    busy, broken = await place(store, max_attempts=2), await place(store, max_attempts=3)
    async with dispatcher_running(settings_for(stack, redis_url), store):
        await eventually(is_(store, busy, CallStatus.DIALING))
        await eventually(is_(store, broken, CallStatus.DIALING))
        # What the worker reports for the first attempts:
        await walk(store, busy, CallStatus.BUSY, attempt=1, sip_code=486)
        await walk(store, broken, CallStatus.FAILED, attempt=1, sip_code=500)

        async def second_attempt_dialing() -> bool:
            now = await current_status(store, busy)
            return now is not None and (now.status, now.attempts) == (CallStatus.DIALING, 2)

        await eventually(second_attempt_dialing)
        await walk(store, busy, CallStatus.BUSY, attempt=2, sip_code=486)
        await eventually(lambda: _inactive(store, busy))
        await asyncio.sleep(0.4)  # longer than retry_delay_s: no third attempt comes

    assert sorted(r.attempt for r in await dispatched(stack, busy)) == [1, 2]
    history = [e.status for e in await status_history(store, busy)]
    assert history == ["queued", "dialing", "busy", "scheduled", "dialing", "busy"]
    assert await status(store, broken) == CallStatus.FAILED
    assert len(await dispatched(stack, broken)) == 1


async def _inactive(store: Redis, call_id: str) -> bool:
    return not await store.sismember(dial_queue.ACTIVE, call_id)


async def test_a_call_no_worker_takes_fails_after_the_dial_timeout(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    call_id = await place(store)
    async with dispatcher_running(settings_for(stack, redis_url, dial_timeout_s=0.3), store):
        await eventually(is_(store, call_id, CallStatus.FAILED))
    now = await current_status(store, call_id)
    assert now is not None and "no worker took the call" in (now.detail or "")
    assert not await claim_dial(store, call_id, 1), "a late worker must not dial it any more"


Received = list[tuple[dict[str, str], bytes]]  # (headers, raw body) per POST


@pytest.fixture
def callback_server() -> Iterator[tuple[str, Received]]:
    received: Received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append((dict(self.headers), self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            """No request log on stderr."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


async def test_every_status_is_posted_to_the_callback_url_signed_and_in_order(
    stack: RunningStack,
    redis_url: str,
    store: Redis,
    callback_server: tuple[str, Received],
) -> None:
    url, received = callback_server
    call_id = await place(store, callback_url=url)
    # development mode: the receiver is on loopback
    settings = settings_for(stack, redis_url, webhook_secret="s3cret", dialroom_dev=True)
    async with dispatcher_running(settings, store):
        await eventually(is_(store, call_id, CallStatus.DIALING))
        await walk(store, call_id, CallStatus.ANSWERED, CallStatus.COMPLETED, attempt=1)

        async def posted() -> bool:
            return len(received) == 4

        await eventually(posted)
    events = [json.loads(body) for _, body in received]
    assert [(e["sequence"], e["status"]) for e in events] == [
        (1, "queued"),
        (2, "dialing"),
        (3, "answered"),
        (4, "completed"),
    ]
    assert all(e["call_id"] == call_id for e in events)
    for headers, body in received:
        timestamp, signature = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
        now = time.time()
        assert verify("s3cret", body, timestamp=timestamp, signature_header=signature, now=now)
        assert not verify("wrong", body, timestamp=timestamp, signature_header=signature, now=now)


async def test_a_fresh_dispatch_creates_its_room_and_a_retry_there_is_dispatched(
    stack: RunningStack, store: Redis
) -> None:
    """A call's first attempt is one `CreateRoom` carrying its dispatch: the room has the
    dispatcher's empty timeout and our dispatch only, not livekit-server's default one for
    agent "" (whose job request would wait out psrpc in the agent client's pool). A later
    attempt in the same still-open room is one `CreateAgentDispatch`, and is dispatched too."""
    request = await dial_queue.load_request(store, await place(store))
    assert request is not None
    async with livekit(stack) as lk:
        assert await dispatch_once(lk, request, agent_name=AGENT, empty_timeout_s=60, fresh=True)
        found = await lk.room.list_rooms(api.ListRoomsRequest(names=[request.room_name]))
        first = await lk.agent_dispatch.list_dispatch(room_name=request.room_name)
        retry = request.model_copy(update={"attempt": 2})
        assert await dispatch_once(lk, retry, agent_name=AGENT, empty_timeout_s=60, fresh=True)
    [room] = found.rooms
    assert room.empty_timeout == 60
    assert [(d.agent_name, carries(d, request)) for d in first] == [(AGENT, True)]
    # ListDispatch keeps no order: both attempts' dispatches, whichever comes first.
    assert sorted(r.attempt for r in await dispatched(stack, request.call_id)) == [1, 2]
