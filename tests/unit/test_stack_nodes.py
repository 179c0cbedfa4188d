"""The `--nodes N` layout: each node on its own loopback address with its own every-interface
ports and media ranges, one LiveKit Redis for all, and the Dialroom processes spread."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from stack.nodes import layout_nodes, pick_free_nodes, services_for
from stack.ports import PortRange, StackPorts
from tests.support.stack_plan import plan_in

pytestmark = pytest.mark.unit


def _overlap(a: PortRange, b: PortRange) -> bool:
    return a.start <= b.end and b.start <= a.end


def test_configured_ports_give_each_node_its_address_and_its_own_shared_interface_ports() -> None:
    first, second = layout_nodes(StackPorts(), 2)
    assert (first.host, second.host) == ("127.0.0.2", "127.0.0.3")
    assert first.livekit == second.livekit == 7880 and first.sip == second.sip == 5060
    assert (first.livekit_rtc_tcp, second.livekit_rtc_tcp) == (7881, 7882)
    assert (first.sip_health, second.sip_health) == (8089, 8090)
    assert not _overlap(first.sip_rtp, second.sip_rtp)
    assert not _overlap(first.livekit_rtc_udp, second.livekit_rtc_udp)
    assert first.sip_rtp.end - first.sip_rtp.start == second.sip_rtp.end - second.sip_rtp.start


def test_free_node_ports_collide_with_nothing() -> None:
    base = StackPorts(redis=1, livekit_redis=2, api=3, livekit=4, sip=5, worker_base=6)
    nodes = pick_free_nodes(base, 3)
    singles = [p for n in nodes for p in n.single_ports().values()]
    assert len(set(singles)) == len(singles)
    ranges = [r for n in nodes for r in (n.livekit_rtc_udp, n.sip_rtp)]
    assert not any(_overlap(a, b) for i, a in enumerate(ranges) for b in ranges[i + 1 :])


def test_every_node_joins_one_livekit_redis_and_the_workers_are_spread(tmp_path: Path) -> None:
    plan = plan_in(tmp_path)
    plan = replace(plan, num_agents=3, nodes=layout_nodes(plan.ports, 2))
    services = {s.name: s for s in services_for(plan)}
    assert [n for n in services if n.startswith(("livekit-", "api-", "dispatcher-"))] == [
        "livekit-redis",
        "livekit-server-1",
        "livekit-server-2",
        "livekit-sip-1",
        "livekit-sip-2",
        "api-1",
        "api-2",
        "dispatcher-1",
        "dispatcher-2",
    ]
    configs = {
        name: yaml.safe_load(Path(services[name].argv[-1]).read_text())
        for name in services
        if name.startswith(("livekit-server-", "livekit-sip-"))
    }
    redis = {f"127.0.0.1:{plan.ports.livekit_redis}"}
    assert {c["redis"]["address"] for c in configs.values()} == redis
    server = configs["livekit-server-2"]
    assert server["bind_addresses"] == ["127.0.0.3"] and server["rtc"]["node_ip"] == "127.0.0.3"
    assert server["region"] == "node-2" and server["node_selector"]["kind"] == "regionaware"
    sip = configs["livekit-sip-2"]
    assert sip["listen_ip"] == sip["nat_1_to_1_ip"] == "127.0.0.3"
    assert services["livekit-sip-2"].env["LIVEKIT_WS_URL"] == f"ws://127.0.0.3:{plan.ports.livekit}"
    urls = [services[f"worker-{k}"].env["LIVEKIT_URL"] for k in (1, 2, 3)]
    assert [u.split("//")[1].split(":")[0] for u in urls] == ["127.0.0.2", "127.0.0.3", "127.0.0.2"]
    names = {services[f"dispatcher-{i}"].env["DISPATCHER_NAME"] for i in (1, 2)}
    assert names == {"dispatcher-1", "dispatcher-2"}
    assert services["api-2"].env["API_HOST"] == "127.0.0.3"
