"""Choosing ports: the configured ones, or free loopback ports so two stacks never collide."""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass, fields

HOST = "127.0.0.1"


@dataclass(frozen=True)
class PortRange:
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


@dataclass(frozen=True)
class StackPorts:
    redis: int = 6379
    livekit_redis: int = 6380
    livekit: int = 7880
    livekit_rtc_tcp: int = 7881
    livekit_rtc_udp: PortRange = PortRange(50000, 50100)
    sip: int = 5060
    sip_rtp: PortRange = PortRange(10000, 10100)
    sip_health: int = 8089
    api: int = 8000
    worker_base: int = 8081

    def single_ports(self, num_agents: int) -> dict[str, int]:
        named = {f.name: getattr(self, f.name) for f in fields(self)}
        ports = {k: v for k, v in named.items() if isinstance(v, int) and k != "worker_base"}
        ports.update({f"worker-{i + 1}": self.worker_base + i for i in range(num_agents)})
        return ports


@dataclass(frozen=True)
class NodePorts:
    """One LiveKit node of a cluster (`stack.nodes`): its own loopback address, as a separate
    host would have, and its own ports where the binaries bind every interface."""

    index: int  # 1, 2, ...
    host: str
    livekit: int
    livekit_rtc_tcp: int  # livekit-server binds it on every interface
    livekit_rtc_udp: PortRange
    sip: int
    sip_rtp: PortRange
    sip_health: int  # livekit-sip v1.8.0 binds it on every interface
    api: int

    def single_ports(self) -> dict[str, int]:
        named = {f.name: getattr(self, f.name) for f in fields(self)}
        return {
            f"{k}-{self.index}": v for k, v in named.items() if isinstance(v, int) and k != "index"
        }


def is_free(port: int, *, udp: bool = True, host: str = HOST) -> bool:
    kinds = [socket.SOCK_STREAM, socket.SOCK_DGRAM] if udp else [socket.SOCK_STREAM]
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


# Ports per media range. livekit-sip keeps a finished call's RTP port 30 s (late packets), so
# this bounds calls per 30 s; when none is free, livekit-sip v1.8.0 crashes (a nil pointer in
# its error path) instead of failing the one call. 200 is ~6 calls/s.
MEDIA_PORTS = 200


def busy_ports(ports: StackPorts, num_agents: int) -> dict[str, int]:
    return {name: p for name, p in ports.single_ports(num_agents).items() if not is_free(p)}


def pick_free_ports(num_agents: int, *, rng: random.Random | None = None) -> StackPorts:
    """Free ports for a whole stack: singles from the OS, media ranges from random free runs."""
    rng = rng or random.Random()
    taken: set[int] = set()
    singles = [free_single(taken) for _ in range(7)]
    worker_base = _free_run(num_agents, taken, rng)
    return StackPorts(
        redis=singles[0],
        livekit=singles[1],
        livekit_rtc_tcp=singles[2],
        sip=singles[3],
        sip_health=singles[4],
        api=singles[5],
        livekit_redis=singles[6],
        worker_base=worker_base,
        livekit_rtc_udp=free_range(MEDIA_PORTS, taken, rng),
        sip_rtp=free_range(MEDIA_PORTS, taken, rng),
    )


def free_single(taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = sock.getsockname()[1]
        if port not in taken and is_free(port):
            taken.add(port)
            return port


def _free_run(size: int, taken: set[int], rng: random.Random) -> int:
    for _ in range(200):
        start = rng.randrange(20000, 32000 - size)
        run = range(start, start + size)
        if not taken.intersection(run) and all(is_free(p) for p in run):
            taken.update(run)
            return start
    raise RuntimeError(f"no run of {size} free ports found on {HOST}")


def free_range(size: int, taken: set[int], rng: random.Random) -> PortRange:
    start = _free_run(size, taken, rng)
    return PortRange(start, start + size - 1)
