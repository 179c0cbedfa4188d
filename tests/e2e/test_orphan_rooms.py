"""The rooms a killed livekit-server leaves behind are handed to a live node and close
(`dispatcher.orphan_rooms`), and they stop no sweep of the dispatcher.

Against the real stack (no workers): two rooms with a guest each, livekit-server SIGKILLed
(start.py's supervisor starts it again) and the guests killed with it, so nobody rejoins.
Their records stay in LiveKit's Redis with one participant each, and every request that must
reach their node fails `unavailable`. One room is named as an inbound call's room, so it looks
like a caller waiting: the dispatcher's inbound sweep must hand it over (it used to fail the
whole sweep every 5 s, forever). The other is asked about directly, as the abandoned-call
sweep asks about a dead worker's room.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from livekit import api

from dialroom.paths import ROOT
from dispatcher.abandoned import livekit_room_in_use
from dispatcher.dispatch import TRANSIENT
from dispatcher.orphan_rooms import orphaned
from tests.support.crash_faults import service_pid
from tests.support.dispatching import eventually, livekit
from tests.support.room_guest import JOINED
from tests.support.stack import RunningStack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

INBOUND_LOOKING = "call-_+14155550123_orphaned"  # a caller's room, as livekit-sip names it
ASKED = "orphaned-asked"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {"INBOUND_WAIT_S": "600"}  # the sweep must hand the room over, not end the call
    running = start_stack(tmp_path_factory.mktemp("orphans"), num_agents=0, env=env)
    yield running
    running.stop()


def guest(stack: RunningStack, room: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "tests.support.room_guest", stack.state.livekit_url, room]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == JOINED
    return process


def kill_livekit_server_and(stack: RunningStack, guests: list[subprocess.Popen[str]]) -> None:
    before = service_pid(stack, "livekit-server")
    os.kill(before, signal.SIGKILL)
    for process in guests:  # before the server is back: nobody rejoins
        process.kill()
        process.wait(10)
    deadline = time.monotonic() + 60
    while service_pid(stack, "livekit-server") == before:
        assert time.monotonic() < deadline, "livekit-server was not started again"
        time.sleep(0.1)


async def counted(lk: api.LiveKitAPI, room: str) -> int | None:
    """The room's participant count as listed; None when it is not listed."""
    try:
        found = (await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms
    except (api.TwirpError, *TRANSIENT):  # livekit-server is starting
        return -1
    return found[0].num_participants if found else None


async def test_a_killed_servers_rooms_are_handed_over_and_close(stack: RunningStack) -> None:
    guests = [guest(stack, INBOUND_LOOKING), guest(stack, ASKED)]
    async with livekit(stack) as lk:

        async def both_joined() -> bool:
            return await counted(lk, INBOUND_LOOKING) == 1 and await counted(lk, ASKED) == 1

        await eventually(both_joined)
        kill_livekit_server_and(stack, guests)

        async def listed_again() -> bool:
            return await counted(lk, ASKED) != -1

        await eventually(listed_again, within_s=30)
        assert await counted(lk, ASKED) == 1, "the record outlives its server, with its count"
        with pytest.raises(api.TwirpError) as no_node:
            await lk.agent_dispatch.list_dispatch(room_name=ASKED)
        assert orphaned(no_node.value)

        assert not await livekit_room_in_use(lk, ASKED)

        async def gone(room: str) -> bool:
            return await counted(lk, room) is None

        await eventually(lambda: gone(ASKED), within_s=20)
        await eventually(lambda: gone(INBOUND_LOOKING), within_s=60)  # the dispatcher's sweep
    assert "handed to a live one to close" in stack.log("dispatcher")
