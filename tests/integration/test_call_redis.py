"""A call's last writes land across a restart of Dialroom's Redis (`worker.call_redis`).

The restart is real: redis-server stopped, and started again on the same port and AOF 1.5 s
later, as the stack's supervisor does. A call ending in that window writes its last status
and its record through the call's client, which waits for the server to come back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from dialroom import dial_queue
from dialroom.call_status import CallStatus, current_status, transition
from dialroom.calls import load_call_record, save_call_record
from dialroom.dial import OutboundCall
from tests.support.redis_server import redis_process
from tests.support.statuses import walk
from worker.call_redis import call_redis, ride_out_s
from worker.call_state import CallState

pytestmark = pytest.mark.integration

AWAY_S = 1.5  # how long the stack's supervisor takes to bring Redis back (crash matrix: 1.3-1.6 s)


def restart_later(data_dir: Path, port: int, stopped: threading.Event, done: threading.Event):
    """Start redis-server again on `port` AWAY_S after `stopped`, until `done`."""

    def run() -> None:
        stopped.wait()
        time.sleep(AWAY_S)
        with redis_process(data_dir, port=port):
            done.wait(timeout=60)

    return threading.Thread(target=run, daemon=True)


async def test_a_call_ending_while_redis_restarts_keeps_its_status_and_record(
    tmp_path: Path,
) -> None:
    assert ride_out_s() > 2 * AWAY_S
    stopped, done = threading.Event(), threading.Event()
    with redis_process(tmp_path) as (port, first):
        client = call_redis(f"redis://127.0.0.1:{port}/0")
        order = OutboundCall(to_number="+15551234567", persona="demo")
        call_id = (await dial_queue.enqueue(client, order)).call_id
        await walk(client, call_id, CallStatus.DIALING, CallStatus.ANSWERED, attempt=1)
        again = restart_later(tmp_path, port, stopped, done)
        again.start()
        first.terminate()  # a clean stop: the AOF has the answered call
        first.wait(timeout=10)
        stopped.set()
        try:
            moved = await transition(client, call_id, CallStatus.COMPLETED, attempt=1)
            state = CallState(call_id, "demo", "outbound", room=f"call-{call_id}")
            await save_call_record(client, state.record())
            assert moved.moved
            now = await current_status(client, call_id)
            assert now is not None and now.status is CallStatus.COMPLETED
            assert await load_call_record(client, call_id) is not None
        finally:
            await client.aclose()
            done.set()
            await asyncio.to_thread(again.join, 15)
