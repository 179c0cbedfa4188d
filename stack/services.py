"""The local stack, described: Redis, livekit-server, livekit-sip, the API and the workers.

Configs are the committed `livekit.yaml` and `sip/config.yaml` with this run's ports and
addresses written over them, saved under the run directory.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from dialroom.paths import LIVEKIT_CONFIG, SIP_CONFIG
from stack.install import LIVEKIT_SERVER, LIVEKIT_SIP
from stack.ports import HOST, StackPorts
from stack.probes import file_fresh, http_ok, log_contains, redis_ping
from stack.supervisor import Service


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

    @property
    def livekit_url(self) -> str:
        return f"ws://{HOST}:{self.ports.livekit}"

    @property
    def redis_url(self) -> str:
        return f"redis://{HOST}:{self.ports.redis}/0"

    def child_env(self) -> dict[str, str]:
        """What every Dialroom process needs to find LiveKit and Redis."""
        return {
            "LIVEKIT_URL": self.livekit_url,
            "LIVEKIT_API_KEY": self.api_key,
            "LIVEKIT_API_SECRET": self.api_secret,
            "REDIS_URL": self.redis_url,
            "AGENT_NAME": self.agent_name,
        }


def render_livekit_config(plan: StackPlan) -> Path:
    config = yaml.safe_load(LIVEKIT_CONFIG.read_text())
    ports = plan.ports
    config["port"] = ports.livekit
    config["redis"] = {"address": f"{HOST}:{ports.redis}"}
    config["rtc"].update(
        tcp_port=ports.livekit_rtc_tcp,
        port_range_start=ports.livekit_rtc_udp.start,
        port_range_end=ports.livekit_rtc_udp.end,
    )
    return _write(plan.run_dir / "livekit.yaml", config)


def render_sip_config(plan: StackPlan) -> Path:
    config = yaml.safe_load(SIP_CONFIG.read_text())
    ports = plan.ports
    config.update(
        redis={"address": f"{HOST}:{ports.redis}"},
        sip_port=ports.sip,
        rtp_port=str(ports.sip_rtp),
        health_port=ports.sip_health,
    )
    return _write(plan.run_dir / "sip.yaml", config)


def stack_services(plan: StackPlan) -> list[Service]:
    logs = plan.run_dir / "logs"
    ports = plan.ports
    env = plan.child_env()
    services = [
        Service(
            name="redis",
            argv=_redis_argv(plan),
            log=logs / "redis.log",
            ready=lambda: redis_ping(ports.redis),
            address=plan.redis_url,
        ),
        Service(
            name="livekit-server",
            argv=[str(LIVEKIT_SERVER.path), "--config", str(render_livekit_config(plan))],
            env={"LIVEKIT_KEYS": f"{plan.api_key}: {plan.api_secret}"},
            log=logs / "livekit-server.log",
            ready=lambda: http_ok(ports.livekit),
            address=plan.livekit_url,
        ),
        Service(
            name="livekit-sip",
            argv=[str(LIVEKIT_SIP.path), "--config", str(render_sip_config(plan))],
            env={**env, "LIVEKIT_WS_URL": plan.livekit_url},
            log=logs / "livekit-sip.log",
            ready=lambda: http_ok(ports.sip_health),
            address=f"sip:{HOST}:{ports.sip} (udp/tcp)",
        ),
        Service(
            name="api",
            argv=[sys.executable, "-m", "api"],
            env={**env, **_api_env(plan)},
            log=logs / "api.log",
            ready=lambda: http_ok(ports.api, "/health"),
            address=f"http://{HOST}:{ports.api}",
        ),
        dispatcher_service(plan),
    ]
    services += [worker_service(plan, index) for index in range(plan.num_agents)]
    return services


def dispatcher_service(plan: StackPlan) -> Service:
    """Healthy while it touches its health file: after every sweep of call statuses."""
    alive = plan.run_dir / "dispatcher.alive"
    alive.unlink(missing_ok=True)  # a previous run's file says nothing about this one
    return Service(
        name="dispatcher",
        argv=[sys.executable, "-m", "dispatcher"],
        env={**plan.child_env(), "DISPATCHER_HEALTH_FILE": str(alive)},
        log=plan.run_dir / "logs" / "dispatcher.log",
        ready=lambda: file_fresh(alive, within_s=10),
        address="Redis stream dialroom:dial:queue",
    )


def _api_env(plan: StackPlan) -> dict[str, str]:
    env = {"API_HOST": HOST, "API_PORT": str(plan.ports.api)}
    if plan.dev_mode:
        env["DIALROOM_DEV"] = "1"  # accept the printed development API key
    return env


def worker_service(plan: StackPlan, index: int) -> Service:
    port = plan.ports.worker_base + index
    log = plan.run_dir / "logs" / f"worker-{index + 1}.log"
    return Service(
        name=f"worker-{index + 1}",
        argv=[sys.executable, "-m", "worker.main", "start"],
        env={**plan.child_env(), "WORKER_PORT": str(port)},
        log=log,
        # Registration with livekit-server is what makes a worker useful, not its HTTP port.
        ready=lambda: http_ok(port) and log_contains(log, "registered worker"),
        start_timeout_s=120.0,
        stop_grace_s=plan.worker_drain_s,
        address=f"http://{HOST}:{port}/worker",
        group="worker",
    )


def _redis_argv(plan: StackPlan) -> list[str]:
    data = plan.run_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    return [
        "redis-server",
        "--port",
        str(plan.ports.redis),
        "--bind",
        HOST,
        "--dir",
        str(data),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--protected-mode",
        "yes",
    ]


def _write(path: Path, config: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
