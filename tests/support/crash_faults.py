"""The faults of the crash matrix, dealt to a running stack: each kills one service's process
and waits until start.py's supervisor has it running again (a new pid in the stack state).

Why through the supervisor: that is how a real box comes back from a crash; the test only
decides when the crash happens. Redis runs with AOF (`appendfsync always`, stack/configs.py),
so a restart of Dialroom's Redis keeps every write it acknowledged.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from stack.state import read_state
from tests.support.stack import RunningStack

WORKER = "worker"  # a Fault's service: the worker that has the answered call


@dataclass(frozen=True)
class Fault:
    name: str  # what the printed line says
    service: str  # the service's name in the stack state (WORKER: see `owner`)
    sig: signal.Signals
    mid_call: bool = False  # dealt while a call is answered, so it cuts a conversation


FAULTS: tuple[Fault, ...] = (
    Fault("SIGKILL a worker", WORKER, signal.SIGKILL, mid_call=True),
    Fault("restart Dialroom's Redis (AOF)", "redis", signal.SIGTERM),
    Fault("restart livekit-server (SIGKILL)", "livekit-server", signal.SIGKILL, mid_call=True),
    Fault("restart livekit-sip (SIGKILL)", "livekit-sip", signal.SIGKILL, mid_call=True),
    Fault("SIGKILL the dispatcher", "dispatcher", signal.SIGKILL),
)


def owner(stack: RunningStack, call_id: str) -> str | None:
    """The worker service (`worker-N`) that logged answering `call_id`, if any."""
    for service in stack.state.services:
        if service.name.startswith("worker-") and f"call {call_id} answered" in stack.log(
            service.name
        ):
            return service.name
    return None


def service_pid(stack: RunningStack, service: str) -> int:
    state = read_state(stack.run_dir) or stack.state
    return next(s.pid for s in state.services if s.name == service)


def deal(stack: RunningStack, fault: Fault, service: str, *, timeout: float = 60.0) -> float:
    """Kill `service` (the fault's, or the worker picked for it), wait for its next pid;
    the seconds it was away."""
    before = service_pid(stack, service)
    started = time.monotonic()
    os.kill(before, fault.sig)
    deadline = started + timeout
    while time.monotonic() < deadline:
        try:
            if service_pid(stack, service) != before:
                return time.monotonic() - started
        except (StopIteration, OSError, ValueError):
            pass  # the state file is being rewritten
        time.sleep(0.1)
    raise AssertionError(f"{service} was not started again within {timeout:.0f}s")
