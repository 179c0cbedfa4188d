"""`start.py up` as plain functions: plan the stack, start it, provision SIP, watch, stop."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

from livekit import api

from dialroom.paths import ROOT
from sip.provision import provision_dev_inbound, provision_dev_outbound
from stack.nodes import services_for
from stack.plan import StackPlan
from stack.ports import HOST
from stack.state import ServiceState, StackState, clear_state, write_state
from stack.supervisor import Running, Supervisor

Report = Callable[[str], None]
WATCH_INTERVAL_S = 0.5


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
    log: Report,
) -> int:
    """Run until SIGTERM or SIGINT; return the exit code. `status` reports start-up progress,
    `log` what happens once the stack is up (crashes, restarts)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _raise_shutdown)
    supervisor = Supervisor(cwd=ROOT)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    try:
        for service in services_for(plan):
            status(f"starting {service.name}")
            supervisor.start(service, lambda s, n=service.name: status(f"starting {n} ({s:.0f}s)"))
        status("provisioning the development SIP trunk and dispatch rule")
        asyncio.run(_provision(plan, persona))
        state = _state(plan, supervisor, dev_keys)
        write_state(plan.run_dir, state)
        announce(state)
        _watch(supervisor, plan, dev_keys, log)
    except Shutdown:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        supervisor.stop_all()
        clear_state(plan.run_dir)


def _watch(supervisor: Supervisor, plan: StackPlan, dev_keys: bool, log: Report) -> NoReturn:
    """Keep every process running until a signal: a crashed one is started again (with
    backoff), and the state file follows each change, so `status` shows live pids."""
    while True:
        events = supervisor.check()
        for event in events:
            log(event)
        if events:
            write_state(plan.run_dir, _state(plan, supervisor, dev_keys))
        time.sleep(WATCH_INTERVAL_S)


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
    host, sip_port, api_port = plan.entry
    return StackState(
        pid=os.getpid(),
        sip_uri=f"sip:1000@{host}:{sip_port}",
        livekit_url=plan.livekit_url,
        redis_url=plan.redis_url,
        livekit_redis_url=plan.livekit_redis_url,
        api_url=f"http://{host}:{api_port}",
        dev_keys=dev_keys,
        services=[_service_state(entry) for entry in supervisor.running],
    )


def _service_state(entry: Running) -> ServiceState:
    next_start_at = None
    if entry.restart_at is not None:  # monotonic clock -> wall clock, for another process
        next_start_at = time.time() + entry.restart_at - time.monotonic()
    return ServiceState(
        name=entry.service.name,
        pid=entry.process.pid,
        address=entry.service.address,
        log=str(entry.service.log),
        health=entry.service.health,
        restarts=entry.restarts,
        last_exit=entry.last_exit,
        next_start_at=next_start_at,
    )
