"""The local stack, described: two Redis servers, livekit-server, livekit-sip, the API, the
dispatcher and the workers.

Two Redis servers, so that a fault of one store stays small: Dialroom's (`redis`: calls,
statuses, the dial queue, the workers' leases) and LiveKit's (`livekit-redis`: the message bus
of livekit-server and livekit-sip, their rooms, SIP trunks and dispatch rules). Dialroom's
processes ride out their Redis being out of reach for a while; livekit-server does not (it
drops its connections, and so the calls, after ~10 s), so an outage or a slow fsync of
Dialroom's store must never stall LiveKit's signalling.

Configs are the committed `livekit.yaml` and `sip/config.yaml` with this run's ports,
addresses and Redis password written over them, saved under the run directory (readable by
this user only: they hold the password).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from dialroom.paths import LIVEKIT_CONFIG, SIP_CONFIG
from stack.health import Health
from stack.install import LIVEKIT_SERVER, LIVEKIT_SIP
from stack.ports import HOST, NodePorts, StackPorts
from stack.supervisor import Service

# Dialroom's Redis' AOF fsync policy, chosen on measurement: `always` cost the outbound API
# 1-7 % of its throughput against `everysec` (bench/README.md, "outbound_api"), and makes a 202
# from the API mean the call is on disk (README, "Durability").
APPENDFSYNC = "always"
# LiveKit's Redis: what must outlive a restart there is only the SIP trunks and dispatch rules
# (`start.py sip apply` writes them; rooms and the bus are live state that livekit-server
# rebuilds), written rarely and by hand, so Redis' default `everysec` is enough: a crash of
# the machine loses at most the last second of a trunk change, never a call. `always` would
# put an fsync on every room and participant update in LiveKit's signalling path.
LIVEKIT_APPENDFSYNC = "everysec"


@dataclass(frozen=True)
class StackPlan:
    ports: StackPorts
    num_agents: int
    api_key: str
    api_secret: str
    run_dir: Path
    agent_name: str
    dev_mode: bool = False
    dev_outbound_address: str = "127.0.0.1:5070"
    worker_drain_s: float = 60.0
    redis_password: str = ""  # required outside dev mode (start.py checks)
    # Several LiveKit nodes on their own loopback addresses (`stack.nodes`); none: one node
    # on 127.0.0.1, the services above.
    nodes: tuple[NodePorts, ...] = ()

    @property
    def livekit_url(self) -> str:
        """The (first) node's livekit-server: where SIP trunks are provisioned."""
        if self.nodes:
            return f"ws://{self.nodes[0].host}:{self.nodes[0].livekit}"
        return f"ws://{HOST}:{self.ports.livekit}"

    @property
    def entry(self) -> tuple[str, int, int]:
        """(address, SIP port, API port) of the (first) node, to print and to call."""
        if self.nodes:
            return self.nodes[0].host, self.nodes[0].sip, self.nodes[0].api
        return HOST, self.ports.sip, self.ports.api

    @property
    def redis_address(self) -> str:
        """Where Dialroom's Redis listens, to show: no password in it."""
        return f"redis://{HOST}:{self.ports.redis}/0"

    @property
    def redis_url(self) -> str:
        """What Dialroom's processes connect to: the address with the password, if any."""
        return _with_password(self.redis_address, self.redis_password)

    @property
    def livekit_redis_address(self) -> str:
        """Where LiveKit's Redis listens, to show: no password in it."""
        return f"redis://{HOST}:{self.ports.livekit_redis}/0"

    @property
    def livekit_redis_url(self) -> str:
        return _with_password(self.livekit_redis_address, self.redis_password)

    def child_env(self, livekit_url: str | None = None) -> dict[str, str]:
        """What every Dialroom process needs to find LiveKit (`livekit_url`: one node of a
        cluster) and Redis."""
        env = {
            "LIVEKIT_URL": livekit_url or self.livekit_url,
            "LIVEKIT_API_KEY": self.api_key,
            "LIVEKIT_API_SECRET": self.api_secret,
            "REDIS_URL": self.redis_url,
            "AGENT_NAME": self.agent_name,
        }
        if self.dev_mode:  # every process: webhooks and HTTP tools may reach loopback
            env["DIALROOM_DEV"] = "1"
        return env


def _with_password(address: str, password: str) -> str:
    if not password:
        return address
    return address.replace("redis://", f"redis://:{quote(password, safe='')}@", 1)


def render_livekit_config(plan: StackPlan) -> Path:
    return write_config(plan.run_dir / "livekit.yaml", livekit_config(plan))


def livekit_config(plan: StackPlan) -> dict[str, Any]:
    """The committed livekit.yaml with this run's Redis and ports."""
    config: dict[str, Any] = yaml.safe_load(LIVEKIT_CONFIG.read_text())
    ports = plan.ports
    config["port"] = ports.livekit
    config["redis"] = _redis_client_config(plan)
    config["rtc"].update(
        tcp_port=ports.livekit_rtc_tcp,
        port_range_start=ports.livekit_rtc_udp.start,
        port_range_end=ports.livekit_rtc_udp.end,
    )
    return config


def render_sip_config(plan: StackPlan) -> Path:
    return write_config(plan.run_dir / "sip.yaml", sip_config(plan))


def sip_config(plan: StackPlan) -> dict[str, Any]:
    """The committed sip/config.yaml with this run's Redis and ports."""
    config: dict[str, Any] = yaml.safe_load(SIP_CONFIG.read_text())
    ports = plan.ports
    config.update(
        redis=_redis_client_config(plan),
        sip_port=ports.sip,
        rtp_port=str(ports.sip_rtp),
        health_port=ports.sip_health,
    )
    return config


def render_redis_config(plan: StackPlan) -> Path:
    """Dialroom's redis.conf: loopback only, append-only file fsynced at every write, and the
    password (never on argv)."""
    return _render_redis(plan, "redis", plan.ports.redis, APPENDFSYNC)


def render_livekit_redis_config(plan: StackPlan) -> Path:
    """LiveKit's redis.conf: as Dialroom's, with its own port, data and fsync policy."""
    return _render_redis(plan, "livekit-redis", plan.ports.livekit_redis, LIVEKIT_APPENDFSYNC)


def _render_redis(plan: StackPlan, name: str, port: int, appendfsync: str) -> Path:
    data = plan.run_dir / name
    data.mkdir(parents=True, exist_ok=True)
    lines = [
        f"port {port}",
        f"bind {HOST}",
        f'dir "{data}"',
        "appendonly yes",
        f"appendfsync {appendfsync}",
        'save ""',
        "protected-mode yes",
    ]
    if plan.redis_password:
        lines.append(f"requirepass {plan.redis_password}")
    path = plan.run_dir / f"{name}.conf"
    _write_private(path, "\n".join(lines) + "\n")
    return path


def redis_services(plan: StackPlan) -> list[Service]:
    """Dialroom's Redis and LiveKit's: one each, whatever the number of LiveKit nodes."""
    logs = plan.run_dir / "logs"
    return [
        Service(
            name="redis",
            argv=["redis-server", str(render_redis_config(plan))],
            log=logs / "redis.log",
            health=Health(kind="redis", url=plan.redis_url),
            address=f"{plan.redis_address} (Dialroom: calls, dial queue)",
        ),
        Service(
            name="livekit-redis",
            argv=["redis-server", str(render_livekit_redis_config(plan))],
            log=logs / "livekit-redis.log",
            health=Health(kind="redis", url=plan.livekit_redis_url),
            address=f"{plan.livekit_redis_address} (LiveKit: bus, rooms, trunks)",
        ),
    ]


def stack_services(plan: StackPlan) -> list[Service]:
    logs = plan.run_dir / "logs"
    ports = plan.ports
    env = plan.child_env()
    services = [
        *redis_services(plan),
        Service(
            name="livekit-server",
            argv=[str(LIVEKIT_SERVER.path), "--config", str(render_livekit_config(plan))],
            env={"LIVEKIT_KEYS": f"{plan.api_key}: {plan.api_secret}"},
            log=logs / "livekit-server.log",
            health=http_health(ports.livekit),
            address=plan.livekit_url,
        ),
        Service(
            name="livekit-sip",
            argv=[str(LIVEKIT_SIP.path), "--config", str(render_sip_config(plan))],
            # Its Redis is in its config; Dialroom's REDIS_URL is not its business.
            env={**livekit_keys(plan), "LIVEKIT_WS_URL": plan.livekit_url},
            log=logs / "livekit-sip.log",
            health=http_health(ports.sip_health),
            address=f"sip:{HOST}:{ports.sip} (udp/tcp)",
        ),
        Service(
            name="api",
            argv=[sys.executable, "-m", "api"],
            env={**env, **api_env(plan)},
            log=logs / "api.log",
            health=http_health(ports.api, "/health"),
            address=f"http://{HOST}:{ports.api}",
        ),
        dispatcher_service(plan),
    ]
    services += [worker_service(plan, index) for index in range(plan.num_agents)]
    return services


def dispatcher_service(
    plan: StackPlan, *, name: str = "dispatcher", env: dict[str, str] | None = None
) -> Service:
    """Healthy while it rewrites its health file, which it does only while each of its loops
    goes on (`dispatcher.health`); `dispatcher.alive.json` beside it names a stuck loop.
    `env` goes over the stack's (a cluster's dispatcher: its node, its consumer name)."""
    alive = plan.run_dir / f"{name}.alive"
    return Service(
        name=name,
        argv=[sys.executable, "-m", "dispatcher"],
        env={**plan.child_env(), "DISPATCHER_HEALTH_FILE": str(alive), **(env or {})},
        log=plan.run_dir / "logs" / f"{name}.log",
        health=Health(kind="heartbeat", path=str(alive), within_s=10),
        address="Redis stream dialroom:dial:queue",
        own_files=(alive, alive.with_name(alive.name + ".json")),  # + its per-loop report
    )


def worker_service(plan: StackPlan, index: int, *, livekit_url: str | None = None) -> Service:
    """Healthy once livekit-server registered it (what makes a worker useful), as the worker
    itself reports, and while its status port answers. `livekit_url`: the node it joins."""
    name = f"worker-{index + 1}"
    port = plan.ports.worker_base + index
    registered = plan.run_dir / f"{name}.registered"
    return Service(
        name=name,
        argv=[sys.executable, "-m", "worker.main", "start"],
        env={
            **plan.child_env(livekit_url),
            "WORKER_PORT": str(port),
            "WORKER_REGISTERED_FILE": str(registered),
        },
        log=plan.run_dir / "logs" / f"{name}.log",
        health=Health(kind="worker", url=f"http://{HOST}:{port}", path=str(registered)),
        start_timeout_s=120.0,
        stop_grace_s=plan.worker_drain_s,
        address=f"http://{HOST}:{port}/worker",
        group="worker",
        own_files=(registered,),
    )


def http_health(port: int, path: str = "/", host: str = HOST) -> Health:
    return Health(kind="http", url=f"http://{host}:{port}{path}")


def livekit_keys(plan: StackPlan) -> dict[str, str]:
    return {"LIVEKIT_API_KEY": plan.api_key, "LIVEKIT_API_SECRET": plan.api_secret}


def _redis_client_config(plan: StackPlan) -> dict[str, str]:
    """livekit-server's and livekit-sip's `redis:`: LiveKit's own Redis."""
    config = {"address": f"{HOST}:{plan.ports.livekit_redis}"}
    if plan.redis_password:
        config["password"] = plan.redis_password
    return config


def api_env(plan: StackPlan, *, host: str = HOST, port: int | None = None) -> dict[str, str]:
    env = {"API_HOST": host, "API_PORT": str(port or plan.ports.api)}
    if plan.dev_mode:
        env["DIALROOM_DEV"] = "1"  # accept the printed development API key
    return env


def write_config(path: Path, config: dict[str, Any]) -> Path:
    _write_private(path, yaml.safe_dump(config, sort_keys=False))
    return path


def _write_private(path: Path, text: str) -> None:
    """Write a file only this user can read (it may hold the Redis password)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
