"""The local stack, described: two Redis servers, livekit-server, livekit-sip, the API, the
dispatcher and the workers.

Two Redis servers, so that a fault of one store stays small: Dialroom's (`redis`: calls,
statuses, the dial queue, the workers' leases) and LiveKit's (`livekit-redis`: the message bus
of livekit-server and livekit-sip, their rooms, SIP trunks and dispatch rules). Dialroom's
processes ride out their Redis being out of reach for a while; livekit-server does not (it
drops its connections, and so the calls, after ~10 s), so an outage or a slow fsync of
Dialroom's store must never stall LiveKit's signalling.

The servers' config files are rendered by `stack.configs`, from the run's `stack.plan`.
"""

from __future__ import annotations

import sys

from stack.configs import (
    render_livekit_config,
    render_livekit_redis_config,
    render_redis_config,
    render_sip_config,
)
from stack.health import Health
from stack.install import LIVEKIT_SERVER, LIVEKIT_SIP
from stack.plan import StackPlan
from stack.ports import HOST
from stack.supervisor import Service


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


def api_env(plan: StackPlan, *, host: str = HOST, port: int | None = None) -> dict[str, str]:
    env = {"API_HOST": host, "API_PORT": str(port or plan.ports.api)}
    if plan.dev_mode:
        env["DIALROOM_DEV"] = "1"  # accept the printed development API key
    return env
