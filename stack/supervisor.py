"""Start child processes in order, wait until each is healthy, stop them in reverse.

Every child gets its own process group, so stopping one also stops what it forked
(livekit-agents runs each call in a child process of its worker).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

Probe = Callable[[], bool]


class StartError(Exception):
    """A service did not come up; the message says which, why, and where its log is."""


@dataclass
class Service:
    name: str
    argv: list[str]
    log: Path
    ready: Probe
    env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 60.0
    stop_grace_s: float = 10.0  # workers: long enough for running calls to finish (drain)
    address: str = ""
    # Replicas (the workers) share a group and are stopped together, so their drains overlap
    # instead of adding up.
    group: str = ""


@dataclass
class Running:
    service: Service
    process: subprocess.Popen[bytes]


class Supervisor:
    def __init__(self, *, cwd: Path) -> None:
        self._cwd = cwd
        self.running: list[Running] = []

    def start(self, service: Service, on_wait: Callable[[float], None] | None = None) -> None:
        service.log.parent.mkdir(parents=True, exist_ok=True)
        with service.log.open("ab") as log:
            process = subprocess.Popen(
                service.argv,
                cwd=self._cwd,
                env={**os.environ, **service.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running.append(Running(service, process))
        self._wait_ready(service, process, on_wait)

    def _wait_ready(
        self,
        service: Service,
        process: subprocess.Popen[bytes],
        on_wait: Callable[[float], None] | None,
    ) -> None:
        started = time.monotonic()
        while True:
            if process.poll() is not None:
                raise StartError(
                    f"{service.name} exited during start-up (code {process.returncode}): "
                    f"{last_line(service.log)} (log: {service.log})"
                )
            if _safe_probe(service.ready):
                return
            waited = time.monotonic() - started
            if waited > service.start_timeout_s:
                raise StartError(
                    f"{service.name} not healthy after {service.start_timeout_s:.0f}s: "
                    f"{last_line(service.log)} (log: {service.log})"
                )
            if on_wait:
                on_wait(waited)
            time.sleep(0.2)

    def first_exited(self) -> Running | None:
        return next((r for r in self.running if r.process.poll() is not None), None)

    def stop_all(self, *, grace_s: float | None = None) -> None:
        """Stop in reverse start order: workers first (all at once), Redis last."""
        for batch in _batches(list(reversed(self.running))):
            grace = max(r.service.stop_grace_s for r in batch) if grace_s is None else grace_s
            stop_groups([r.process for r in batch], grace_s=grace)
        self.running.clear()


def _batches(running: list[Running]) -> list[list[Running]]:
    """Neighbours of one group form one batch; every other service is a batch of its own."""
    batches: list[list[Running]] = []
    for entry in running:
        group = entry.service.group
        if batches and group and batches[-1][0].service.group == group:
            batches[-1].append(entry)
        else:
            batches.append([entry])
    return batches


def stop_group(process: subprocess.Popen[bytes], *, grace_s: float) -> None:
    stop_groups([process], grace_s=grace_s)


def stop_groups(processes: list[subprocess.Popen[bytes]], *, grace_s: float) -> None:
    """SIGTERM each child, give them grace_s to finish, then SIGKILL their process groups.

    Only the leader gets SIGTERM: a worker then drains (takes no new calls, lets its running
    calls end) and stops its call processes itself."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace_s
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    # A group may outlive its leader (a call process still draining): kill the rest.
    for process in processes:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except FileNotFoundError:
        return "no output"
    return lines[-1][-300:] if lines else "no output"


def _safe_probe(probe: Probe) -> bool:
    try:
        return probe()
    except Exception:  # noqa: BLE001 - a probe that fails just means "not ready yet"
        return False
