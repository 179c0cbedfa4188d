"""Start child processes in order, wait until each is healthy, keep them running, stop them in
reverse.

Every child gets its own process group, so stopping one also stops what it forked
(livekit-agents runs each call in a child process of its worker). Once the stack is up, a
child that exits is started again after a backoff (`stack.backoff`) and a child started again
that never becomes healthy is stopped and started again: the stack stops only when asked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stack.backoff import Backoff
from stack.health import Health, healthy

# Asked with the pid of the process it checks: "is this process ready?"
Probe = Callable[[int], bool]
Clock = Callable[[], float]


class StartError(Exception):
    """A service did not come up; the message says which, why, and where its log is."""


@dataclass
class Service:
    name: str
    argv: list[str]
    log: Path
    # Readiness: `ready` where given (tests), else the health check.
    ready: Probe | None = None
    env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 60.0
    stop_grace_s: float = 10.0  # workers: long enough for running calls to finish (drain)
    address: str = ""
    # Replicas (the workers) share a group and are stopped together, so their drains overlap
    # instead of adding up.
    group: str = ""
    # What to ask the process, as data, also saved for `start.py status`.
    health: Health | None = None
    # Files the process writes about itself (a heartbeat, its registration): removed before
    # each start, so what an earlier process wrote never speaks for this one.
    own_files: tuple[Path, ...] = ()

    def is_ready(self, pid: int) -> bool:
        """Never raises: a probe that fails just means "not ready yet"."""
        if self.ready is not None:
            try:
                return self.ready(pid)
            except Exception:  # noqa: BLE001 - any failure of a test's probe: not ready
                return False
        return self.health is not None and healthy(self.health, pid)


@dataclass
class Running:
    service: Service
    process: subprocess.Popen[bytes]
    started_at: float
    healthy: bool = False
    restarts: int = 0
    crashes_in_a_row: int = 0
    last_exit: int | None = None
    restart_at: float | None = None  # set while a crashed process waits to be started again


class Supervisor:
    def __init__(
        self, *, cwd: Path, backoff: Backoff | None = None, clock: Clock = time.monotonic
    ) -> None:
        self._cwd = cwd
        self._backoff = backoff or Backoff()
        self._clock = clock
        self.running: list[Running] = []

    def start(self, service: Service, on_wait: Callable[[float], None] | None = None) -> None:
        """Start `service` and wait until it is healthy; StartError if it is not."""
        entry = Running(service, self._spawn(service), started_at=self._clock())
        self.running.append(entry)
        _wait_ready(service, entry.process, on_wait)
        entry.healthy = True

    def check(self) -> list[str]:
        """One pass of the watch: note crashes, start again what is due, see who is healthy.

        Returns what happened, one line each; never raises for a child's sake."""
        now = self._clock()
        events: list[str] = []
        for entry in self.running:
            if entry.restart_at is not None:
                if now >= entry.restart_at:
                    events.append(self._start_again(entry, now))
            elif entry.process.poll() is not None:
                events.append(self._crashed(entry, now))
            elif not entry.healthy:
                events += self._check_started(entry, now)
        return events

    def stop_all(self, *, grace_s: float | None = None) -> None:
        """Stop in reverse start order: workers first (all at once), Redis last."""
        live = [r for r in self.running if r.restart_at is None]
        for batch in _batches(list(reversed(live))):
            grace = max(r.service.stop_grace_s for r in batch) if grace_s is None else grace_s
            stop_groups([r.process for r in batch], grace_s=grace)
        self.running.clear()

    def _spawn(self, service: Service) -> subprocess.Popen[bytes]:
        for path in service.own_files:
            path.unlink(missing_ok=True)
        service.log.parent.mkdir(parents=True, exist_ok=True)
        with service.log.open("ab") as log:
            return subprocess.Popen(
                service.argv,
                cwd=self._cwd,
                env={**os.environ, **service.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _crashed(self, entry: Running, now: float) -> str:
        service, code = entry.service, entry.process.returncode
        stop_group(entry.process, grace_s=0)  # what it forked (a worker's call processes)
        ran_s = now - entry.started_at
        entry.crashes_in_a_row = self._backoff.crashes_in_a_row(
            before=entry.crashes_in_a_row, ran_s=ran_s
        )
        delay = self._backoff.delay_s(entry.crashes_in_a_row)
        entry.healthy, entry.last_exit, entry.restart_at = False, code, now + delay
        return (
            f"{service.name} stopped unexpectedly (code {code}) after {ran_s:.0f}s; "
            f"starting it again in {delay:.0f}s (crash {entry.crashes_in_a_row} in a row). "
            f"Its log ({service.log}) ends: {last_line(service.log)}"
        )

    def _start_again(self, entry: Running, now: float) -> str:
        entry.process = self._spawn(entry.service)
        entry.started_at, entry.restart_at = now, None
        entry.restarts += 1
        return f"starting {entry.service.name} again (pid {entry.process.pid})"

    def _check_started(self, entry: Running, now: float) -> list[str]:
        service, pid = entry.service, entry.process.pid
        if service.is_ready(pid):
            entry.healthy = True
            return [f"{service.name} is healthy again (pid {pid})"]
        if now - entry.started_at <= service.start_timeout_s:
            return []
        stop_group(entry.process, grace_s=2)  # the next check sees it exited and backs off
        return [
            f"{service.name} not healthy {service.start_timeout_s:.0f}s after its start; "
            f"stopping it to start it again. Its log ({service.log}) ends: "
            f"{last_line(service.log)}"
        ]


def _wait_ready(
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
        if service.is_ready(process.pid):
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
