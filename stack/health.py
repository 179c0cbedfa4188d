"""Is a process of the stack healthy? Asked of the process itself, never of a log file.

Each service's check is data (`Health`), saved in the stack's state file, so `start.py up`
(readiness, restarts) and `start.py status` ask the same question the same way. A check
answers for one process id: what a worker wrote about itself counts only with its own pid,
so a file left by an earlier run, or by the process a restart replaced, never counts.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from redis import Redis
from redis.exceptions import RedisError

from dialroom.worker_registration import read_registration


class Health(BaseModel):
    """How to ask one process whether it is healthy.

    redis: `url` answers PING (with its password). http: `url` answers 200. heartbeat: the
    process touched `path` in the last `within_s` seconds. worker: `url` (its status port)
    answers 200 and `path` holds the id livekit-server registered this very process under.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["redis", "http", "heartbeat", "worker"]
    url: str = ""
    path: str = ""
    within_s: float = 10.0


def healthy(health: Health, pid: int) -> bool:
    """Never raises: a check that fails for any reason means "not healthy (yet)"."""
    try:
        return _CHECKS[health.kind](health, pid)
    except (OSError, RedisError, ValueError):
        return False


def describe(health: Health, pid: int) -> str:
    """One phrase for `start.py status`: healthy or not, and a worker's registration."""
    if health.kind == "heartbeat":
        return "healthy" if healthy(health, pid) else f"not healthy{_stuck(Path(health.path))}"
    if health.kind != "worker":
        return "healthy" if healthy(health, pid) else "not healthy"
    try:
        info = _get_json(f"{health.url}/worker")
    except (OSError, ValueError):
        return "not answering"
    registration = read_registration(Path(health.path))
    if registration is None or registration.pid != pid or not healthy(health, pid):
        registered = "not registered"
    else:
        registered = f"registered as {registration.worker_id}"
    calls = int(float(info.get("active_jobs", 0)))  # livekit-agents sends it as 1.0
    load = float(info.get("worker_load", 0))
    return f"{registered}, agent {info.get('agent_name')}, {calls} active call(s), load {load:.2f}"


def _redis(health: Health, _pid: int) -> bool:
    client = Redis.from_url(health.url, socket_timeout=1, socket_connect_timeout=1)
    with client:
        return bool(client.ping())


def _http(health: Health, _pid: int) -> bool:
    with urllib.request.urlopen(health.url, timeout=1) as response:
        return bool(response.status == 200)


def _heartbeat(health: Health, _pid: int) -> bool:
    path = Path(health.path)
    return path.is_file() and time.time() - path.stat().st_mtime < health.within_s


def _worker(health: Health, pid: int) -> bool:
    """Its status port answers (it has not given up on livekit-server), and livekit-server
    registered this process: the registration file names this pid."""
    registration = read_registration(Path(health.path))
    if registration is None or registration.pid != pid:
        return False
    return _http(Health(kind="http", url=f"{health.url}/"), pid)


def _stuck(heartbeat: Path) -> str:
    """The loops the dispatcher names stuck in its report beside its heartbeat file."""
    try:
        report = json.loads(heartbeat.with_name(heartbeat.name + ".json").read_text())
        stuck = [str(name) for name in report.get("stuck", [])]
    except (OSError, ValueError, AttributeError, TypeError):
        return ""
    return f" (stuck: {', '.join(stuck)})" if stuck else ""


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=1) as response:
        body = json.load(response)
    if not isinstance(body, dict):
        raise ValueError(f"{url} answered {type(body).__name__}, not an object")
    return body


_CHECKS: dict[str, Callable[[Health, int], bool]] = {
    "redis": _redis,
    "http": _http,
    "heartbeat": _heartbeat,
    "worker": _worker,
}
