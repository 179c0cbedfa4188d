"""Looking into a running `start.py up --nodes N` cluster: its nodes' addresses, which node
hosts a room, and which node each leg of a call goes through.

A call has three legs in LiveKit: its room (on one livekit-server node, LiveKit's own
`room_node_map` in its Redis says which), the SIP bridge's participant (joined through its SIP
node's own server) and the agent (joined through its worker's server). `CallLegs` names the
node of each, read from LiveKit's Redis and the processes' own logs.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import redis

from stack.nodes import worker_node
from tests.support.stack import RunningStack

NODE_ROOM_KEY = "room_node_map"  # livekit-server's pkg/routing/redisrouter.go
_STARTED = re.compile(r'starting LiveKit server.*"nodeID": "(\w+)"')


@dataclass(frozen=True)
class ClusterNode:
    index: int
    host: str
    sip_uri: str  # the demo number on this node's livekit-sip
    livekit_url: str
    api_url: str


@dataclass(frozen=True)
class CallLegs:
    room: str
    room_node: int
    sip_node: int
    agent_node: int

    @property
    def nodes(self) -> set[int]:
        return {self.room_node, self.sip_node, self.agent_node}


def cluster_nodes(stack: RunningStack) -> list[ClusterNode]:
    by_name = {s.name: s.address for s in stack.state.services}
    nodes = []
    for index in range(1, 1 + sum(n.startswith("livekit-server-") for n in by_name)):
        sip = urlparse(by_name[f"livekit-sip-{index}"].split()[0].replace("sip:", "sip://"))
        nodes.append(
            ClusterNode(
                index=index,
                host=str(sip.hostname),
                sip_uri=f"sip:1000@{sip.hostname}:{sip.port}",
                livekit_url=by_name[f"livekit-server-{index}"],
                api_url=by_name[f"api-{index}"],
            )
        )
    return nodes


def node_ids(stack: RunningStack) -> dict[str, int]:
    """Every node id each livekit-server has had (a restarted one gets a new id)."""
    ids = {}
    for node in cluster_nodes(stack):
        for line in stack.log(f"livekit-server-{node.index}").splitlines():
            if found := _STARTED.search(line):
                ids[found.group(1)] = node.index
    return ids


def room_node_id(stack: RunningStack, room: str) -> str | None:
    """The id of the livekit-server hosting `room`, as LiveKit's Redis says."""
    client = redis.Redis.from_url(stack.state.livekit_redis_url)
    try:
        node_id = client.hget(NODE_ROOM_KEY, room)
    finally:
        client.close()
    return node_id.decode() if node_id else None


def room_node(stack: RunningStack, room: str) -> int | None:
    """The node (1, 2, ...) hosting `room` now; None when no node does."""
    node_id = room_node_id(stack, room)
    return node_ids(stack).get(node_id) if node_id else None


def live_node_ids(stack: RunningStack) -> set[str]:
    """The id each livekit-server has now: the last it started with."""
    last: dict[int, str] = {}
    for node_id, index in node_ids(stack).items():  # in log order, so the latest wins
        last[index] = node_id
    return set(last.values())


def sip_leg_restarted(stack: RunningStack, node: int, caller: str) -> bool:
    """Whether livekit-sip on `node` had to reconnect `caller`'s participant to LiveKit."""
    return any(
        "restarting connection" in line and f'"fromUser": "{caller}"' in line
        for line in stack.log(f"livekit-sip-{node}").splitlines()
    )


def calls_ended(stack: RunningStack, caller: str) -> int:
    """Agent sessions the workers ended for `caller`'s calls (`call ended` log lines)."""
    return sum(
        stack.log(s.name).count(f"caller={caller[:2]}***")
        for s in stack.state.services
        if s.name.startswith("worker-")
    )


def agent_of(stack: RunningStack, caller: str, *, timeout: float = 30.0) -> tuple[int, str]:
    """(worker number, room) of the agent that joined `caller`'s call, from the workers' logs
    ("RoomIO linked to participant sip_<caller>", which names the room)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in stack.state.services:
            if service.name.startswith("worker-"):
                for line in stack.log(service.name).splitlines():
                    if f'"sip_{caller}"' in line and '"RoomIO linked' in line:
                        room = json.loads(line)["lk.pii.room_name"]
                        return int(service.name.removeprefix("worker-")), room
        time.sleep(0.25)
    raise AssertionError(f"no agent joined {caller}'s call")


def call_legs(stack: RunningStack, caller: str, sip_node: int) -> CallLegs:
    worker, room = agent_of(stack, caller)
    count = len(cluster_nodes(stack))
    hosting = room_node(stack, room)
    assert hosting is not None, f"room {room} of {caller}'s call is on no node"
    return CallLegs(
        room=room, room_node=hosting, sip_node=sip_node, agent_node=worker_node(worker, count)
    )
