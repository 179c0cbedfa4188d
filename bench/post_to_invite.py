"""POST-to-INVITE benchmark: how long after `POST /api/outbound-call` the callee's phone rings.

Starts one real stack (`start.py up --dev --auto-ports`) whose dev outbound trunk points at the
INVITE counter (`tests/support/invite_counter.py`): a SIP endpoint on loopback that timestamps
every INVITE, reads the call id from its `X-Dialroom-Call-Id` header and answers 486 Busy Here,
so each call ends at once and nothing but the path to the INVITE is measured. Two scenarios:

- idle: calls one at a time, each after the previous one has ended;
- burst: `--burst` calls POSTed at `--rate` per second, as fast as the API takes them.

Every time is `time.time()` on this machine (the counter and this process share the clock).
The call's status history splits each number into stages: the API accepting it, the queue
wait until the dispatcher moved it to `dialing` (and dispatched it), and from there to the
INVITE: LiveKit assigning the dispatch, a call process of the worker taking it, the worker
loading the persona and asking the SIP bridge to dial. The dispatcher's log line for each call
adds two parts of those: its own time from the head of the queue to `dialing` (within the
queue stage), and its LiveKit request (the start of `to_invite`). It prints p50 / p95; it never
asserts them.

    .venv/bin/python -m bench.post_to_invite
    .venv/bin/python -m bench.post_to_invite --idle 5 --burst 40 --rate 20
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import httpx
import numpy as np
import typer
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table

from dialroom.call_status import TERMINAL, CallStatus, status_history
from dialroom.paths import ROOT
from dialroom.settings import DEV_DIALROOM_API_KEY
from tests.support.invite_counter import InviteCounter, ReceivedInvite
from tests.support.stack import RunningStack, running_stack

STAGES = ("post_to_invite", "api", "queue", "to_invite")
STAGE_NOTES = {
    "post_to_invite": "POST sent -> INVITE at the phone",
    "api": "POST sent -> queued (API)",
    "queue": "queued -> dispatcher's dialing",
    "to_invite": "dispatched -> INVITE (worker job, SIP)",
}
# Rows under a stage: a part of it, from the dispatcher's log (`dispatch_parts`).
PARTS = {
    "queue": ("dispatcher", "head of the queue -> dialing (its checks, slot, move)"),
    "to_invite": ("LiveKit", "the dispatcher's room + dispatch request"),
}
CALL_WAIT_S = 300.0  # a call whose INVITE has not come by then counts as lost
# `dispatcher.entries`' line for each dispatched call
DISPATCHED = re.compile(r"call (\w+) dispatched: .*\(to dialing (\d+) ms, LiveKit (\d+) ms\)")

console = Console()
app = typer.Typer(add_completion=False)


@dataclass(frozen=True)
class Timing:
    """One call's stages, in seconds."""

    call_id: str
    post_to_invite: float
    api: float
    queue: float
    to_invite: float


async def post(client: httpx.AsyncClient, n: int) -> tuple[str, float]:
    body = {"to_number": f"+1415555{n % 10000:04d}", "persona": "demo", "max_attempts": 1}
    sent = time.time()
    response = await client.post("/api/outbound-call", json=body)
    response.raise_for_status()
    return str(response.json()["call_id"]), sent


async def invite_for(counter: InviteCounter, redis: Redis, call_id: str) -> ReceivedInvite | None:
    """The call's INVITE; None when the call ended without one (it was lost on the way)."""
    deadline = time.monotonic() + CALL_WAIT_S
    while time.monotonic() < deadline:
        for invite in counter.invites():
            if invite.dialroom_call_id == call_id:
                return invite
        history = await status_history(redis, call_id)
        if history and history[-1].status in TERMINAL:
            return None
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no INVITE for call {call_id} within {CALL_WAIT_S:.0f}s")


async def ended(redis: Redis, call_id: str) -> None:
    while True:
        history = await status_history(redis, call_id)
        if history and history[-1].status in TERMINAL:
            return
        await asyncio.sleep(0.05)


async def timing(redis: Redis, call_id: str, sent: float, invite: ReceivedInvite) -> Timing:
    history = await status_history(redis, call_id)
    queued = next(e.at for e in history if e.status == CallStatus.QUEUED)
    dispatched = next(e.at for e in history if e.status == CallStatus.DIALING)  # dispatcher's
    at = invite.received_at
    return Timing(
        call_id=call_id,
        post_to_invite=at - sent,
        api=queued - sent,
        queue=dispatched - queued,
        to_invite=at - dispatched,
    )


async def one_call(
    client: httpx.AsyncClient, redis: Redis, counter: InviteCounter, n: int
) -> Timing | str:
    """The call's stages, or why it never reached the phone (its last status detail)."""
    call_id, sent = await post(client, n)
    invite = await invite_for(counter, redis, call_id)
    await ended(redis, call_id)
    if invite is None:
        last = (await status_history(redis, call_id))[-1]
        return f"{last.status.value}: {last.detail}"
    return await timing(redis, call_id, sent, invite)


async def idle(stack: RunningStack, counter: InviteCounter, calls: int) -> list[Timing | str]:
    async with clients(stack) as (client, redis):
        await one_call(client, redis, counter, 9999)  # warm-up, not counted
        return [await one_call(client, redis, counter, n) for n in range(calls)]


async def burst(
    stack: RunningStack, counter: InviteCounter, calls: int, rate: float
) -> list[Timing | str]:
    async with clients(stack) as (client, redis):
        start = time.time()

        async def paced(n: int) -> Timing | str:
            await asyncio.sleep(max(0.0, start + n / rate - time.time()))
            return await one_call(client, redis, counter, 1000 + n)

        return list(await asyncio.gather(*(paced(n) for n in range(calls))))


@asynccontextmanager
async def clients(stack: RunningStack) -> AsyncIterator[tuple[httpx.AsyncClient, Redis]]:
    """An API client with the dev key and a Redis client on the stack's Redis."""
    headers = {"X-API-Key": DEV_DIALROOM_API_KEY}
    redis = Redis.from_url(stack.state.redis_url, decode_responses=True)
    async with httpx.AsyncClient(base_url=stack.state.api_url, headers=headers, timeout=30) as http:
        try:
            yield http, redis
        finally:
            await redis.aclose()


def cells(values: list[float]) -> list[str]:
    p50, p95 = np.percentile(values, [50, 95])
    return [f"{p50:.2f} s", f"{p95:.2f} s", f"{min(values):.2f} s", f"{max(values):.2f} s"]


def dispatch_parts(log: str) -> dict[str, dict[str, float]]:
    """Each dispatched call's parts of the dispatcher's time, in seconds, by `PARTS` stage:
    "queue" (the head of the queue to `dialing`) and "to_invite" (its LiveKit request)."""
    parts = {}
    for call_id, to_dialing_ms, livekit_ms in DISPATCHED.findall(log):
        parts[call_id] = {"queue": int(to_dialing_ms) / 1000, "to_invite": int(livekit_ms) / 1000}
    return parts


def add_part(table: Table, stage: str, values: list[float]) -> None:
    """The row of a stage's part (`PARTS`), over the calls whose dispatcher line was found."""
    if values:
        name, note = PARTS[stage]
        table.add_row("", f"    {name}", str(len(values)), *cells(values), note)


def report(
    results: dict[str, list[Timing | str]],
    *,
    settings: dict[str, str],
    parts: dict[str, dict[str, float]],
) -> None:
    table = Table(title="POST -> INVITE at the phone (486 Busy Here, 1 attempt)")
    for column in ("scenario", "stage", "calls", "p50", "p95", "min", "max", "what"):
        table.add_column(
            column, justify="right" if column not in ("scenario", "stage", "what") else "left"
        )
    for scenario, outcomes in results.items():
        timings = [t for t in outcomes if isinstance(t, Timing)]
        for stage in STAGES if timings else ():
            values = [getattr(t, stage) for t in timings]
            label = scenario if stage == STAGES[0] else ""
            name = stage if stage == STAGES[0] else f"  {stage}"
            table.add_row(label, name, str(len(values)), *cells(values), STAGE_NOTES[stage])
            if stage in PARTS:
                known = [parts[t.call_id][stage] for t in timings if t.call_id in parts]
                add_part(table, stage, known)
    console.print(table)
    for scenario, outcomes in results.items():
        lost = [t for t in outcomes if isinstance(t, str)]
        if lost:
            console.print(f"[red]{scenario}: {len(lost)} of {len(outcomes)} calls never rang:[/]")
            for why, count in Counter(lost).most_common():
                console.print(f"  {count} x {why}")
    load1, load5, load15 = os.getloadavg()
    knobs = ", ".join(f"{name} {value}" for name, value in settings.items())
    console.print(
        f"{knobs}; {os.cpu_count()} CPUs, load average {load1:.2f}, {load5:.2f}, {load15:.2f}"
    )


@app.command()
def main(
    idle_calls: Annotated[int, typer.Option("--idle", min=1, help="Calls one at a time.")] = 10,
    burst_calls: Annotated[int, typer.Option("--burst", min=1, help="Calls in the burst.")] = 40,
    rate: Annotated[float, typer.Option(min=0.1, help="Burst rate, calls per second.")] = 20.0,
    agents: Annotated[int, typer.Option(min=1, help="NUM_AGENTS (worker processes).")] = 1,
    per_worker: Annotated[int, typer.Option(min=1, help="MAX_CALLS_PER_WORKER.")] = 8,
    concurrent: Annotated[int, typer.Option(min=1, help="MAX_CONCURRENT_CALLS.")] = 4,
    warm: Annotated[
        int | None, typer.Option(min=0, help="WORKER_IDLE_PROCESSES (default: one per line).")
    ] = None,
    dispatch_concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="DISPATCH_CONCURRENCY (default: the dispatcher's own)."),
    ] = None,
    run_dir: Annotated[
        Path, typer.Option(help="The stack's run directory (logs, INVITE log).")
    ] = ROOT / ".run" / "bench-post-to-invite",
) -> None:
    """Time from POST /api/outbound-call to the INVITE at the phone, idle and in a burst."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "invites.jsonl").unlink(missing_ok=True)
    settings = {
        "NUM_AGENTS": str(agents),
        "MAX_CALLS_PER_WORKER": str(per_worker),
        "MAX_CONCURRENT_CALLS": str(concurrent),
        "DIAL_TIMEOUT_S": "30",  # a call no worker takes fails after this: reported, not waited
        "burst rate": f"{rate:g}/s",
    }
    if warm is None:
        settings["warm call processes"] = f"{per_worker} per worker (the default)"
    else:
        settings["WORKER_IDLE_PROCESSES"] = str(warm)
    if dispatch_concurrency is not None:
        settings["DISPATCH_CONCURRENCY"] = str(dispatch_concurrency)
    with InviteCounter(0, log=run_dir / "invites.jsonl") as counter:
        env = {
            "SIP_DEV_OUTBOUND_ADDRESS": f"127.0.0.1:{counter.port}",
            "RATE_LIMIT_PER_MINUTE": "100000",
            **{k: v for k, v in settings.items() if k.isupper() and k != "NUM_AGENTS"},
        }
        console.print("starting the stack")
        with running_stack(run_dir / "stack", num_agents=agents, env=env) as stack:
            console.print(f"idle: {idle_calls} calls one at a time")
            results = {"idle": asyncio.run(idle(stack, counter, idle_calls))}
            console.print(f"burst: {burst_calls} calls at {rate:g}/s")
            results["burst"] = asyncio.run(burst(stack, counter, burst_calls, rate))
            parts = dispatch_parts(stack.log("dispatcher"))
    report(results, settings=settings, parts=parts)
    console.print(f"logs and the INVITE log: {run_dir}")


if __name__ == "__main__":
    app()
