"""The running stack's state file: what `start.py up` started, for `status` and for tests.

`up` rewrites it whenever a process is started again, so each pid in it is the live one; it
holds the Redis password (in both Redis URLs and the health checks), so only this user reads
it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel

from stack.health import Health


class ServiceState(BaseModel):
    name: str
    pid: int
    address: str
    log: str
    health: Health | None = None
    restarts: int = 0
    last_exit: int | None = None  # exit code of its last crash
    next_start_at: float | None = None  # epoch seconds; set while it waits to start again


class StackState(BaseModel):
    pid: int
    sip_uri: str
    livekit_url: str
    redis_url: str  # Dialroom's Redis (calls, dial queue): what its processes get as REDIS_URL
    livekit_redis_url: str  # LiveKit's own Redis (livekit-server's and livekit-sip's bus)
    api_url: str
    dev_keys: bool
    services: list[ServiceState]


def state_path(run_dir: Path) -> Path:
    return run_dir / "stack.json"


def write_state(run_dir: Path, state: StackState) -> None:
    path = state_path(run_dir)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(state.model_dump_json(indent=2))
    tmp.replace(path)  # readers never see half a file


def read_state(run_dir: Path) -> StackState | None:
    path = state_path(run_dir)
    if not path.is_file():
        return None
    state = StackState.model_validate(json.loads(path.read_text()))
    return state if pid_alive(state.pid) else None


def clear_state(run_dir: Path) -> None:
    state_path(run_dir).unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
