"""An inbound call placed before any worker has registered is answered once one has.

The stack starts with no worker: livekit-server gets the call's dispatch, finds no worker and
drops the job ("not dispatching agent job since no worker is available"). Then a worker
starts, as `start.py up` restarting one would; the dispatcher sees the waiting caller and
the free line, dispatches the call again, and the caller hears the greeting.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit import api

from callcheck.phone import start_dialing
from dialroom.paths import ROOT
from dialroom.settings import DEV_API_KEY, DEV_API_SECRET
from dispatcher.inbound import INBOUND_PREFIX
from tests.support.stack import RunningStack, start_stack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # A worker starting on a loaded machine may take longer than the default INBOUND_WAIT_S.
    env = {"INBOUND_WAIT_S": "80"}
    running = start_stack(tmp_path_factory.mktemp("no-workers"), num_agents=0, env=env)
    yield running
    running.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_worker(stack: RunningStack, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LIVEKIT_URL": stack.state.livekit_url,
        "LIVEKIT_API_KEY": DEV_API_KEY,
        "LIVEKIT_API_SECRET": DEV_API_SECRET,
        "REDIS_URL": stack.state.redis_url,
        "WORKER_PORT": str(free_port()),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "worker.main", "start"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def caller_in_a_room_with_no_job(stack: RunningStack) -> bool:
    async with api.LiveKitAPI(
        url=stack.state.livekit_url, api_key=DEV_API_KEY, api_secret=DEV_API_SECRET
    ) as lk:
        rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
        for room in rooms:
            if room.name.startswith(INBOUND_PREFIX) and room.num_participants:
                dispatches = await lk.agent_dispatch.list_dispatch(room_name=room.name)
                return bool(dispatches) and not any(d.state.jobs for d in dispatches)
    return False


async def test_a_call_placed_before_any_worker_is_answered_once_one_registers(
    stack: RunningStack, tmp_path: Path
) -> None:
    heard = tmp_path / "heard.wav"
    with start_dialing(
        stack.state.sip_uri, result_dir=tmp_path, record=heard, hangup_after=12, timeout=90
    ) as phone:
        deadline = time.monotonic() + 20
        while not await caller_in_a_room_with_no_job(stack):
            assert time.monotonic() < deadline, "the call never reached a room"
            await asyncio.sleep(0.2)
        worker = start_worker(stack, tmp_path / "worker.log")
        try:
            call = phone.result(timeout=105).call
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=90)
            except subprocess.TimeoutExpired:
                worker.kill()
    assert call.connected, f"never answered: {call.status_code} {call.reason}"
    text = transcribe_wav(heard).lower()
    assert "demo" in text, f"greeting not heard: {text!r}"
    assert "no worker took its call; dispatched again" in stack.log("dispatcher")
