"""A worker's word that livekit-server registered it, for whoever started it (`start.py`).

A worker's HTTP status port answers long before livekit-server has registered it, and
livekit-server offers no API that lists its workers. So the worker itself writes, each time
livekit-server registers it (again after a reconnection), its process id and worker id to
the file `WORKER_REGISTERED_FILE` names. The pid makes the file speak for one process only:
a file an earlier run or a replaced process left behind names another pid.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError


class Registration(BaseModel):
    pid: int
    worker_id: str


def write_registration(path: Path, worker_id: str) -> None:
    registration = Registration(pid=os.getpid(), worker_id=worker_id)
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_text(registration.model_dump_json())
    tmp.replace(path)  # readers never see half a file


def read_registration(path: Path) -> Registration | None:
    try:
        return Registration.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError):
        return None
