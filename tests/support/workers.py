"""Which worker of a running stack serves which caller, read from the workers' own logs."""

from __future__ import annotations

import time

from tests.support.stack import RunningStack


def call_owner(stack: RunningStack, caller: str, *, timeout: float = 30.0) -> str:
    """The worker (`worker-N`) whose agent joined `caller`'s call.

    The phone calls as SIP user `caller`; LiveKit names its participant `sip_<caller>`, and
    livekit-agents logs "RoomIO linked to participant" with that identity."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in stack.state.services:
            if not service.name.startswith("worker-"):
                continue
            for line in stack.log(service.name).splitlines():
                if f'"sip_{caller}"' in line and '"RoomIO linked' in line:
                    return service.name
        time.sleep(0.25)
    raise AssertionError(f"no worker took {caller}'s call")


def service_pid(stack: RunningStack, name: str) -> int:
    return next(s.pid for s in stack.state.services if s.name == name)
