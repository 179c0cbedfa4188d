"""The running stack's state file: what `start.py up` started, for `status` and for tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel


class ServiceState(BaseModel):
    name: str
    pid: int
    address: str
    log: str


class StackState(BaseModel):
    pid: int
    sip_uri: str
    livekit_url: str
    redis_url: str
    api_url: str
    dev_keys: bool
    services: list[ServiceState]


def state_path(run_dir: Path) -> Path:
    return run_dir / "stack.json"


def write_state(run_dir: Path, state: StackState) -> None:
    path = state_path(run_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json(indent=2))
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
