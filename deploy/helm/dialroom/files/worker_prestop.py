"""The worker pod's preStop hook: start the worker's own drain and hold the pod until it ends.

A Dialroom worker drains on SIGTERM (livekit-agents `start` mode): it takes no new calls, its
free lines drop to 0 in Redis so the dispatcher sends it none, and each running call goes on
to its end; then it exits. A *second* SIGTERM makes livekit-agents exit at once, ending those
calls. So this hook sends the one SIGTERM itself and returns only once the worker is gone:
the kubelet's own SIGTERM, sent when a hook returns, then finds nothing left to cut short.
terminationGracePeriodSeconds (the longest max_call_s plus the drain) bounds the whole wait.

Standard library only: it runs with the image's Python, mounted from the chart's ConfigMap.
"""

from __future__ import annotations

import argparse
import os
import signal
import time


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drain(pid: int, *, poll_s: float, deadline_s: float) -> bool:
    """SIGTERM `pid` once, wait until it exits; True when it did within `deadline_s`."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        if not alive(pid):
            return True
        time.sleep(poll_s)
    return not alive(pid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pid", type=int, default=1, help="the worker: the container's PID 1")
    parser.add_argument("--poll-s", type=float, default=1.0)
    parser.add_argument("--deadline-s", type=float, default=4 * 3600.0)
    args = parser.parse_args()
    return 0 if drain(args.pid, poll_s=args.poll_s, deadline_s=args.deadline_s) else 1


if __name__ == "__main__":
    raise SystemExit(main())
