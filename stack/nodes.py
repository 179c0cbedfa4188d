"""Several LiveKit nodes on one box, laid out as separate hosts would be: LiveKit's own cluster.

Node i (1, 2, ...) gets the loopback address 127.0.0.(i+1), and on it a livekit-server and a
livekit-sip, the SIP bridge joining rooms through its own node's server. All of them share
LiveKit's one Redis, which is what makes them a cluster: livekit-server keeps the room -> node
map and the node list there and relays a participant's signalling to the node hosting the
room; livekit-sip instances share the psrpc bus on it, so an outbound call
(CreateSIPParticipant) goes to whichever SIP node answers first. The API and a dispatcher run
once per node, talking to their node's server; workers are dealt out round-robin over the
nodes' URLs, and livekit-server hands a job to a worker on any node (psrpc, by spare load).

Rooms stay on the node a call entered by (`regionaware` node selection, each node its own
region): an inbound call's room is on the server of the SIP node it reached, an outbound
call's on its dispatcher's. When a node stops answering (its stats older than 5 s) the
selector skips it, so new rooms go to the nearest live node.

Some ports must differ per node even on distinct addresses: livekit-server binds `rtc.tcp_port`
and livekit-sip v1.8.0 its health port on every interface, and each node gets its own media
ranges (livekit-sip v1.8.0 crashes when its RTP range runs out, so no node may eat another's).
Dialroom's Redis and LiveKit's stay on 127.0.0.1; so do the workers' status ports.
"""

from __future__ import annotations

import random
import sys

from stack.configs import livekit_config, sip_config, write_config
from stack.install import LIVEKIT_SERVER, LIVEKIT_SIP
from stack.plan import StackPlan
from stack.ports import (
    MEDIA_PORTS,
    NodePorts,
    PortRange,
    StackPorts,
    free_range,
    free_single,
    is_free,
)
from stack.services import (
    api_env,
    dispatcher_service,
    http_health,
    livekit_keys,
    redis_services,
    stack_services,
    worker_service,
)
from stack.supervisor import Service

MAX_NODES = 8


def node_host(index: int) -> str:
    """Node 1 is 127.0.0.2: 127.0.0.1 stays the single-node stack's and the Redis servers'."""
    return f"127.0.0.{index + 1}"


def layout_nodes(ports: StackPorts, count: int) -> tuple[NodePorts, ...]:
    """The configured ports for `count` nodes: the same service ports on each node's address
    (as on separate hosts), the every-interface ports and media ranges shifted per node."""
    return tuple(
        NodePorts(
            index=i,
            host=node_host(i),
            livekit=ports.livekit,
            livekit_rtc_tcp=ports.livekit_rtc_tcp + i - 1,
            livekit_rtc_udp=_shift(ports.livekit_rtc_udp, i - 1),
            sip=ports.sip,
            sip_rtp=_shift(ports.sip_rtp, i - 1),
            sip_health=ports.sip_health + i - 1,
            api=ports.api,
        )
        for i in range(1, count + 1)
    )


def pick_free_nodes(
    ports: StackPorts, count: int, *, rng: random.Random | None = None
) -> tuple[NodePorts, ...]:
    """Free ports for `count` nodes, none shared with `ports` or each other (tests)."""
    rng = rng or random.Random()
    taken = set(ports.single_ports(0).values())
    for span in (ports.livekit_rtc_udp, ports.sip_rtp):
        taken.update(range(span.start, span.end + 1))
    return tuple(_free_node(i, taken, rng) for i in range(1, count + 1))


def busy_node_ports(nodes: tuple[NodePorts, ...]) -> dict[str, int]:
    return {
        name: port
        for node in nodes
        for name, port in node.single_ports().items()
        if not is_free(port, host=node.host)
    }


def services_for(plan: StackPlan) -> list[Service]:
    """What `start.py up` runs: the single-node stack, or the cluster of `plan.nodes`."""
    if not plan.nodes:
        return stack_services(plan)
    nodes = plan.nodes
    return [
        *redis_services(plan),
        *(livekit_server(plan, node) for node in nodes),
        *(livekit_sip(plan, node) for node in nodes),
        *(api_service(plan, node) for node in nodes),
        *(node_dispatcher(plan, node) for node in nodes),
        *(
            worker_service(
                plan, k, livekit_url=livekit_url(nodes[worker_node(k + 1, len(nodes)) - 1])
            )
            for k in range(plan.num_agents)
        ),
    ]


def worker_node(worker: int, count: int) -> int:
    """Workers are dealt out round-robin: worker-1 joins node 1, worker-2 node 2, ..."""
    return (worker - 1) % count + 1


def livekit_url(node: NodePorts) -> str:
    return f"ws://{node.host}:{node.livekit}"


def livekit_server(plan: StackPlan, node: NodePorts) -> Service:
    config = livekit_config(plan)
    config.update(port=node.livekit, bind_addresses=[node.host], **_placement(plan, node))
    config["rtc"].update(
        node_ip=node.host,
        tcp_port=node.livekit_rtc_tcp,
        port_range_start=node.livekit_rtc_udp.start,
        port_range_end=node.livekit_rtc_udp.end,
    )
    name = f"livekit-server-{node.index}"
    path = write_config(plan.run_dir / f"{name}.yaml", config)
    return Service(
        name=name,
        argv=[str(LIVEKIT_SERVER.path), "--config", str(path)],
        env={"LIVEKIT_KEYS": f"{plan.api_key}: {plan.api_secret}"},
        log=plan.run_dir / "logs" / f"{name}.log",
        health=http_health(node.livekit, host=node.host),
        address=livekit_url(node),
    )


def livekit_sip(plan: StackPlan, node: NodePorts) -> Service:
    config = sip_config(plan)
    config.update(
        sip_port=node.sip,
        listen_ip=node.host,
        nat_1_to_1_ip=node.host,
        rtp_port=str(node.sip_rtp),
        health_port=node.sip_health,
    )
    name = f"livekit-sip-{node.index}"
    path = write_config(plan.run_dir / f"{name}.yaml", config)
    return Service(
        name=name,
        argv=[str(LIVEKIT_SIP.path), "--config", str(path)],
        env={**livekit_keys(plan), "LIVEKIT_WS_URL": livekit_url(node)},
        log=plan.run_dir / "logs" / f"{name}.log",
        health=http_health(node.sip_health),  # bound on every interface, 127.0.0.1 included
        address=f"sip:{node.host}:{node.sip} (udp/tcp), rtp {node.sip_rtp}",
    )


def api_service(plan: StackPlan, node: NodePorts) -> Service:
    name = f"api-{node.index}"
    return Service(
        name=name,
        argv=[sys.executable, "-m", "api"],
        env={
            **plan.child_env(livekit_url(node)),
            **api_env(plan, host=node.host, port=node.api),
        },
        log=plan.run_dir / "logs" / f"{name}.log",
        health=http_health(node.api, "/health", host=node.host),
        address=f"http://{node.host}:{node.api}",
    )


def node_dispatcher(plan: StackPlan, node: NodePorts) -> Service:
    """One dispatcher per node, all consumers of the one dial queue, each its own name."""
    name = f"dispatcher-{node.index}"
    env = {"LIVEKIT_URL": livekit_url(node), "DISPATCHER_NAME": name}
    return dispatcher_service(plan, name=name, env=env)


def _placement(plan: StackPlan, node: NodePorts) -> dict[str, object]:
    """Each node its own region, the regions a line apart, so a room stays on the node its
    call entered by while that node is live, and goes to the nearest live one otherwise."""
    regions = [{"name": f"node-{n.index}", "lat": 0.0, "lon": float(n.index)} for n in plan.nodes]
    return {
        "region": f"node-{node.index}",
        "node_selector": {
            "kind": "regionaware",
            "sort_by": "random",
            "algorithm": "lowest",
            "regions": regions,
        },
    }


def _shift(span: PortRange, by: int) -> PortRange:
    size = span.end - span.start + 1
    return PortRange(span.start + by * size, span.end + by * size)


def _free_node(index: int, taken: set[int], rng: random.Random) -> NodePorts:
    host = node_host(index)

    def single() -> int:
        while not is_free(port := free_single(taken), host=host):
            pass
        return port

    return NodePorts(
        index=index,
        host=host,
        livekit=single(),
        livekit_rtc_tcp=single(),
        livekit_rtc_udp=free_range(MEDIA_PORTS, taken, rng),
        sip=single(),
        sip_rtp=free_range(MEDIA_PORTS, taken, rng),
        sip_health=single(),
        api=single(),
    )
