"""LiveKit's own multi-node cluster on loopback: `start.py up --nodes 2` runs two
livekit-server and two livekit-sip nodes on 127.0.0.2 and 127.0.0.3 over one LiveKit Redis,
with an API and a dispatcher per node and the workers dealt out over the nodes.

Real SIP phones call each SIP node and answer what the nodes dial; the kill test SIGKILLs one
livekit-server node under live calls. Ordered: the kill test runs last."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from callcheck.phone import PhoneProcess, start_answering, start_dialing
from dialroom.call_status import TERMINAL, CallStatus, StatusEvent, status_history
from dialroom.settings import DEV_DIALROOM_API_KEY
from tests.support.cluster import (
    call_legs,
    calls_ended,
    cluster_nodes,
    live_node_ids,
    room_node_id,
    sip_leg_restarted,
)
from tests.support.stack import RunningStack, start_stack
from tests.support.workers import service_pid

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CAP = 2  # MAX_CONCURRENT_CALLS: what the two dispatchers together may have on the line
CALLS = 4  # outbound calls, placed half through each node's API


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, phone_port: int) -> Iterator[RunningStack]:
    env = {
        "SIP_DEV_OUTBOUND_ADDRESS": f"127.0.0.1:{phone_port}",
        "RING_TIMEOUT_S": "6",
        "MAX_CONCURRENT_CALLS": str(CAP),
        "RETRY_DELAY_S": "0.5",
        "WORKER_DRAIN_S": "5",
    }
    running = start_stack(
        tmp_path_factory.mktemp("cluster"), num_agents=2, extra_args=("--nodes", "2"), env=env
    )
    yield running
    running.stop()


def test_each_sip_node_answers_an_inbound_call_on_its_own_node(
    cluster: RunningStack, tmp_path: Path
) -> None:
    nodes = cluster_nodes(cluster)
    assert [n.host for n in nodes] == ["127.0.0.2", "127.0.0.3"]
    phones = [_call(node.sip_uri, f"in{node.index}", tmp_path, hangup_after=5) for node in nodes]
    legs = [call_legs(cluster, f"in{node.index}", node.index) for node in nodes]  # agents joined
    # An agent can join before livekit-sip has answered: each phone hangs up 5 s after its 200.
    results = [phone.result() for phone in phones]
    for node, result in zip(nodes, results, strict=True):
        assert result.call.status_code == 200 and result.call.connected, (node, result)
    # each call's room is on the server of the SIP node it reached (regionaware placement)
    assert [leg.room_node for leg in legs] == [1, 2], legs


def test_outbound_calls_go_out_through_either_sip_node_over_the_shared_bus(
    cluster: RunningStack, phone_port: int, tmp_path: Path
) -> None:
    """livekit-server hands CreateSIPParticipant to the first SIP node that claims it on the
    bus (v1.13.5 asks with AcceptFirstAvailable; livekit-sip's load affinity is not consulted),
    so which node dials is a race. Pausing one node (SIGSTOP) leaves the race to the other."""
    nodes = cluster_nodes(cluster)
    sources = {}
    for paused in nodes:
        other = nodes[2 - paused.index]
        pid = service_pid(cluster, f"livekit-sip-{paused.index}")
        with start_answering(
            phone_port, result_dir=tmp_path / str(paused.index), code=486, max_calls=1
        ) as callee:
            os.kill(pid, signal.SIGSTOP)
            try:
                history = _wait_terminal(cluster, _post_call(other.api_url))
            finally:
                os.kill(pid, signal.SIGCONT)
            invites = callee.stop().invites
        assert history[-1].status == CallStatus.BUSY, history
        assert len(invites) == 1, "dialed exactly once"
        sources[other.host] = invites[0].source.rsplit(":", 1)[0]
    assert sources == {"127.0.0.2": "127.0.0.2", "127.0.0.3": "127.0.0.3"}, sources


def test_two_dispatchers_dial_each_call_once_and_hold_the_cap_together(
    cluster: RunningStack, phone_port: int, tmp_path: Path
) -> None:
    nodes = cluster_nodes(cluster)
    with start_answering(
        phone_port, result_dir=tmp_path, code=486, ring_s=2.0, max_calls=CALLS, duration=90
    ) as callee:
        call_ids = [_post_call(nodes[i % 2].api_url) for i in range(CALLS)]  # both APIs
        histories = [_wait_terminal(cluster, call_id) for call_id in call_ids]
        result = callee.stop()
    assert all(h[-1].status == CallStatus.BUSY for h in histories), histories
    assert len(result.invites) == CALLS, "each call dialed exactly once"
    assert len({i.call_id for i in result.invites}) == CALLS
    assert _most_at_once(histories) == CAP, "the two dispatchers together fill the cap, no more"
    for name in ("dispatcher-1", "dispatcher-2"):
        assert "dispatched: attempt" in cluster.log(name), f"{name} dispatched no call"


def test_killing_a_server_node_ends_only_the_rooms_it_hosted(
    cluster: RunningStack, phone_port: int, tmp_path: Path
) -> None:
    nodes = cluster_nodes(cluster)
    phones = {n.index: _call(n.sip_uri, f"k{n.index}", tmp_path, hangup_after=60) for n in nodes}
    legs = {i: call_legs(cluster, f"k{i}", i) for i in phones}
    assert (legs[1].room_node, legs[2].room_node) == (1, 2), legs
    hosts = {i: room_node_id(cluster, legs[i].room) for i in phones}

    psutil.Process(service_pid(cluster, "livekit-server-1")).kill()  # SIGKILL, mid-call
    # The room on node 1 died with it: livekit-sip-1 reconnects its caller, and LiveKit
    # places the room again, on a node that is live (the restarted node 1 or node 2).
    _eventually(lambda: room_node_id(cluster, legs[1].room) in live_node_ids(cluster) - {hosts[1]})
    assert sip_leg_restarted(cluster, 1, "k1")

    # The next call is carried (through node 1's own API and dispatcher, too).
    with start_answering(
        phone_port, result_dir=tmp_path / "next", code=486, max_calls=1, duration=60
    ) as callee:
        history = _wait_terminal(cluster, _post_call(nodes[0].api_url))
        assert history[-1].status == CallStatus.BUSY and len(callee.stop().invites) == 1

    # The call on node 2 never noticed: same room on the same node, its SIP leg never
    # reconnected, one agent session from start to end; no phone line was dropped.
    assert room_node_id(cluster, legs[2].room) == hosts[2]
    assert not sip_leg_restarted(cluster, 2, "k2")
    results = {i: phone.stop() for i, phone in phones.items()}  # hang up now
    dropped = [i for i, r in results.items() if r.call.remote_hangup or not r.call.connected]
    assert not dropped, f"calls dropped by the far end: {dropped} {results}"
    _eventually(lambda: calls_ended(cluster, "k2") == 1)


def _call(uri: str, caller: str, folder: Path, *, hangup_after: float) -> PhoneProcess:
    return start_dialing(
        uri,
        result_dir=folder / caller,
        from_user=caller,
        hangup_after=hangup_after,
        timeout=hangup_after + 20,
    )


def _eventually(check: Callable[[], bool], within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.25)


def _post_call(api_url: str) -> str:
    body = {"to_number": "+14155550123", "persona": "demo"}
    headers = {"X-API-Key": DEV_DIALROOM_API_KEY}
    response = httpx.post(f"{api_url}/api/outbound-call", json=body, headers=headers, timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["call_id"])


def _history(stack: RunningStack, call_id: str) -> list[StatusEvent]:
    async def read() -> list[StatusEvent]:
        client = redis.asyncio.Redis.from_url(stack.state.redis_url)
        try:
            return await status_history(client, call_id)
        finally:
            await client.aclose()

    return asyncio.run(read())


def _statuses(stack: RunningStack, call_id: str) -> list[CallStatus]:
    return [event.status for event in _history(stack, call_id)]


def _wait_terminal(stack: RunningStack, call_id: str, timeout: float = 60) -> list[StatusEvent]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = _history(stack, call_id)
        if events and events[-1].status in TERMINAL:
            return events
        time.sleep(0.5)
    raise AssertionError(f"call {call_id} never ended: {_statuses(stack, call_id)}")


def _most_at_once(histories: list[list[StatusEvent]]) -> int:
    """The most calls on the line (dialing to their end) at one moment."""
    edges = []
    for events in histories:
        start = next(e.at for e in events if e.status == CallStatus.DIALING)
        edges += [(start, 1), (events[-1].at, -1)]
    now = most = 0
    for _, step in sorted(edges):
        now += step
        most = max(most, now)
    return most
