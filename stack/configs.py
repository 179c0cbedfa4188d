"""The config files of the local stack's servers: livekit-server's, livekit-sip's, and the
two Redis servers' (Dialroom's and LiveKit's own; `stack.services` says why two).

Configs are the committed `livekit.yaml` and `sip/config.yaml` with this run's ports,
addresses and Redis password written over them, saved under the run directory (readable by
this user only: they hold the password).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from dialroom.paths import LIVEKIT_CONFIG, SIP_CONFIG
from dispatcher.settings import DispatcherSettings
from stack.plan import StackPlan
from stack.ports import HOST

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
    # A call's first dispatch lets livekit-server create its room (`dispatcher.dispatch`):
    # the room then gets this default, the dispatcher's ROOM_EMPTY_TIMEOUT_S.
    config.setdefault("room", {})["empty_timeout"] = DispatcherSettings().room_empty_timeout_s
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


def _redis_client_config(plan: StackPlan) -> dict[str, str]:
    """livekit-server's and livekit-sip's `redis:`: LiveKit's own Redis."""
    config = {"address": f"{HOST}:{plan.ports.livekit_redis}"}
    if plan.redis_password:
        config["password"] = plan.redis_password
    return config


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
