"""Tell whoever started this worker (`start.py up`) that livekit-server registered it.

`start.py` counts a worker ready, and `start.py status` shows it registered, only from this
report: the worker's status port answers before registration, and livekit-server lists no
workers. The file format lives in `dialroom.worker_registration`.
"""

from __future__ import annotations

from pathlib import Path

from livekit.agents import AgentServer

from dialroom.worker_registration import write_registration


def report_registration(server: AgentServer, path: str) -> None:
    """Write `path` at each registration (again after a reconnection); nothing if empty."""
    if not path:
        return

    def registered(worker_id: str, _info: object) -> None:
        write_registration(Path(path), worker_id)

    server.on("worker_registered", registered)
