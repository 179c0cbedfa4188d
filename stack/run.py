"""`start.py up` as plain functions: plan the stack, start it, provision SIP, wait, stop."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from types import FrameType

from livekit import api

from dialroom.paths import ROOT
from sip.provision import provision_dev_inbound, provision_dev_outbound
from stack.ports import HOST
from stack.services import StackPlan, stack_services
from stack.state import ServiceState, StackState, clear_state, write_state
from stack.supervisor import StartError, Supervisor, stop_group

Report = Callable[[str], None]


class Shutdown(Exception):
    """SIGTERM or SIGINT arrived: stop everything, in order."""


def _raise_shutdown(signum: int, _frame: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


def run_stack(
    plan: StackPlan,
    *,
    persona: str,
    dev_keys: bool,
    status: Report,
    announce: Callable[[StackState], None],
) -> int:
    """Run until a signal or a crashed child; return the exit code."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _raise_shutdown)
    supervisor = Supervisor(cwd=ROOT)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    try:
        for service in stack_services(plan):
            status(f"starting {service.name}")
            supervisor.start(service, lambda s, n=service.name: status(f"starting {n} ({s:.0f}s)"))
        status("provisioning the development SIP trunk and dispatch rule")
        asyncio.run(_provision(plan, persona))
        state = _state(plan, supervisor, dev_keys)
        write_state(plan.run_dir, state)
        announce(state)
        return _watch(supervisor, status)
    except Shutdown:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
        clear_state(plan.run_dir)


def _watch(supervisor: Supervisor, status: Report) -> int:
    while True:
        crashed = supervisor.first_exited()
        if crashed is None:
            time.sleep(0.5)
            continue
        why = f"{crashed.service.name} stopped unexpectedly (code {crashed.process.returncode})"
        if not crashed.service.name.startswith("worker-"):
            raise StartError(f"{why}; see {crashed.service.log}")
        # One worker's crash must not end the other workers' calls: start it again.
        status(f"{why}; starting it again (see {crashed.service.log})")
        supervisor.running.remove(crashed)
        stop_group(crashed.process, grace_s=0)  # what it forked
        supervisor.start(crashed.service)


async def _provision(plan: StackPlan, persona: str) -> None:
    async with api.LiveKitAPI(
        url=plan.livekit_url.replace("ws://", "http://"),
        api_key=plan.api_key,
        api_secret=plan.api_secret,
    ) as lk:
        await provision_dev_inbound(
            lk, agent_name=plan.agent_name, persona=persona, allowed_addresses=[f"{HOST}/32"]
        )
        await provision_dev_outbound(lk, address=plan.dev_outbound_address)


def _state(plan: StackPlan, supervisor: Supervisor, dev_keys: bool) -> StackState:
    return StackState(
        pid=os.getpid(),
        sip_uri=f"sip:1000@{HOST}:{plan.ports.sip}",
        livekit_url=plan.livekit_url,
        redis_url=plan.redis_url,
        api_url=f"http://{HOST}:{plan.ports.api}",
        dev_keys=dev_keys,
        services=[
            ServiceState(
                name=r.service.name,
                pid=r.process.pid,
                address=r.service.address,
                log=str(r.service.log),
            )
            for r in supervisor.running
        ],
    )
