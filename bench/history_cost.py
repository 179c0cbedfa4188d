"""History cost benchmark: does writing finished calls to the history slow the POST path?

The dispatcher's archive loop (`dispatcher.archive`) shares the dispatcher's event loop with
dispatching, and the box's cores with the API and the workers. This runs the real stack twice,
the same way but for one setting: `HISTORY_ARCHIVE=true` (the normal stack) and `false` (no
archive loop: the closest honest "off"). On each, while it measures, a feeder writes finished
inbound call records into Redis at `--archive-rate` per second, as workers do when calls end
(a transcript of 10 lines, 5 measured replies each). With the archiver on they go into the
history (a fresh SQLite file) during the window, with the calls the benchmark itself places;
off, they wait in Redis. Both sides get the same writes to Redis.

Measured on each side, with `bench.post_to_invite`'s own code and its INVITE counter:
- `post_to_invite` idle and burst: POST /api/outbound-call -> INVITE at the phone;
- `outbound_api`: POST /api/outbound-call latency, `--requests` at `--concurrency`, each
  scheduled a day ahead (`schedule_at`) so that nothing dials them; the API path is the same
  but for the queue write (a member of the schedule, not a stream entry).

It prints p50 / p95 per side and, on a line of its own each, the ratio on / off; it never
asserts them.

    flock /tmp/e2e.lock .venv/bin/python -m bench.history_cost
    .venv/bin/python -m bench.history_cost --rounds 2 --idle 5 --burst 10 --requests 200
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import psutil
import typer
from redis.asyncio import Redis
from rich.console import Console

from bench.history_cost_report import Side, merge, report, stack_line
from bench.post_to_invite import Timing, burst, clients, idle
from dialroom.calls import (
    CALLS_TO_ARCHIVE,
    CallRecord,
    TranscriptLine,
    TurnLatency,
    save_call_record,
)
from dialroom.paths import ROOT
from tests.support.invite_counter import InviteCounter
from tests.support.stack import RunningStack, running_stack

console = Console()
app = typer.Typer(add_completion=False)


def cpu_seconds(stack: RunningStack) -> dict[str, float]:
    """CPU time so far of the dispatcher (where the archiver runs) and of the API."""
    times = {}
    for service in stack.state.services:
        if service.name in ("dispatcher", "api"):
            cpu = psutil.Process(service.pid).cpu_times()
            times[service.name] = cpu.user + cpu.system
    return times


def history_rows(database: Path) -> int:
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM calls").fetchone()[0])


def finished_call(n: int, now: float) -> CallRecord:
    """A one-minute inbound call as a worker writes it when the call ends."""
    started = now - 60.0
    lines = [
        TranscriptLine(role="agent" if i % 2 == 0 else "caller", text=f"line {i} " * 8, at=i * 5)
        for i in range(10)
    ]
    turns = [TurnLatency(at=started + 10 * i, stt_s=0.6, voice_to_voice_s=1.2) for i in range(5)]
    return CallRecord(
        call_id=f"feed{uuid.uuid4().hex}",
        persona="demo",
        direction="inbound",
        room=f"feed-{n}",
        caller_number=f"+1415556{n % 10000:04d}",
        called_number="+14155550100",
        trunk="ST_benchfeed",
        started_at=started,
        answered_at=started + 1.0,
        ended_at=now,
        outcome="completed",
        transcript=lines,
        turns=turns,
    )


async def feed(redis: Redis, rate: float, stop: asyncio.Event) -> int:
    """Finished call records into Redis at `rate` per second until `stop`; how many."""
    start, n = time.monotonic(), 0
    while not stop.is_set():
        await save_call_record(redis, finished_call(n, time.time()))
        n += 1
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
    return n


async def api_latencies(stack: RunningStack, *, requests: int, concurrency: int) -> list[float]:
    """POST /api/outbound-call latencies; the calls are scheduled a day ahead (none dials)."""
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"to_number": "+14155550123", "persona": "demo", "schedule_at": when}
    latencies: list[float] = []
    remaining = iter(range(requests))
    async with clients(stack) as (client, _):

        async def one_client() -> None:
            for _ in remaining:
                sent = time.perf_counter()
                response = await client.post("/api/outbound-call", json=body)
                latencies.append(time.perf_counter() - sent)
                if response.status_code != 202:
                    raise RuntimeError(f"{response.status_code} {response.text[:300]}")

        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies


async def measure(
    stack: RunningStack, counter: InviteCounter, args: dict[str, float]
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Every measure on one stack, with the feeder running through all of them."""
    await asyncio.sleep(args["settle"])  # the workers' warm call processes start meanwhile
    redis = Redis.from_url(stack.state.redis_url, decode_responses=True)
    stop = asyncio.Event()
    feeder = asyncio.create_task(feed(redis, args["archive_rate"], stop))
    started, cpu_before = time.monotonic(), cpu_seconds(stack)
    try:
        await api_latencies(stack, requests=50, concurrency=4)  # warm-up, not counted
        idle_runs = await idle(stack, counter, int(args["idle"]))
        burst_runs = await burst(stack, counter, int(args["burst"]), args["rate"])
        api = await api_latencies(
            stack, requests=int(args["requests"]), concurrency=int(args["concurrency"])
        )
    finally:
        stop.set()
        fed = await feeder
        waiting = await redis.zcard(CALLS_TO_ARCHIVE)
        await redis.aclose()
    window = time.monotonic() - started
    cpu = {name: t - cpu_before[name] for name, t in cpu_seconds(stack).items()}
    lost = sum(1 for t in idle_runs + burst_runs if not isinstance(t, Timing))
    idle_ok = [t for t in idle_runs if isinstance(t, Timing)]
    burst_ok = [t for t in burst_runs if isinstance(t, Timing)]
    results = {
        "post_to_invite idle": [t.post_to_invite for t in idle_ok],
        "  idle: queue (dispatcher)": [t.queue for t in idle_ok],
        "post_to_invite burst": [t.post_to_invite for t in burst_ok],
        "  burst: queue (dispatcher)": [t.queue for t in burst_ok],
        "outbound_api POST": api,
    }
    facts = {"window_s": window, "fed": fed, "waiting": waiting, "lost": lost}
    facts |= {f"{name}_cpu_s": seconds for name, seconds in cpu.items()}
    return results, facts


def run_side(side: str, folder: Path, args: dict[str, float]) -> Side:
    """One stack, HISTORY_ARCHIVE on or off, fresh Redis and history; every measure on it."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env = {
        "HISTORY_ARCHIVE": "true" if side == "on" else "false",
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'history.db'}",
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "MAX_CALLS_PER_WORKER": "8",  # bench.post_to_invite's defaults
        "MAX_CONCURRENT_CALLS": "4",
        "DIAL_TIMEOUT_S": "30",
    }
    with InviteCounter(0, log=folder / "invites.jsonl") as counter:
        env["SIP_DEV_OUTBOUND_ADDRESS"] = f"127.0.0.1:{counter.port}"
        console.print(f"history {side}: starting the stack")
        with running_stack(folder / "stack", env=env) as stack:
            results, facts = asyncio.run(measure(stack, counter, args))
    facts["history_rows"] = history_rows(folder / "history.db")
    return Side(side, results, facts)


@app.command()
def main(
    history: Annotated[str, typer.Option(help="on, off or both.")] = "both",
    rounds: Annotated[
        int, typer.Option(min=1, help="Stacks per side; both: on, off, then off, on, ...")
    ] = 1,
    idle_calls: Annotated[int, typer.Option("--idle", min=1, help="Calls one at a time.")] = 10,
    burst_calls: Annotated[int, typer.Option("--burst", min=1, help="Calls in the burst.")] = 40,
    rate: Annotated[float, typer.Option(min=0.1, help="Burst rate, calls per second.")] = 20.0,
    requests: Annotated[int, typer.Option(min=10, help="outbound_api POSTs per stack.")] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, help="outbound_api POSTs in flight.")] = 16,
    archive_rate: Annotated[
        float, typer.Option(min=0.1, help="Finished calls fed per second (to be archived).")
    ] = 5.0,
    settle: Annotated[
        float, typer.Option(min=0, help="Seconds between the stack's start and the measures.")
    ] = 15.0,
    run_dir: Annotated[Path, typer.Option(help="Run directories, one per side.")] = ROOT
    / ".run"
    / "bench-history-cost",
) -> None:
    """p50 / p95 of post_to_invite and outbound_api with the history written, and without."""
    sides = {"on": ["on"], "off": ["off"], "both": ["on", "off"]}.get(history)
    if sides is None:
        raise typer.BadParameter("--history is on, off or both")
    args = {"idle": idle_calls, "burst": burst_calls, "rate": rate, "requests": requests}
    args |= {"concurrency": concurrency, "archive_rate": archive_rate, "settle": settle}
    measured = [
        run_side(side, run_dir / side, args)
        for n in range(rounds)
        for side in (sides if n % 2 == 0 else sides[::-1])  # neither side always goes first
    ]
    for n, side in enumerate(measured, 1):
        console.print(stack_line(n, side))
    console.print(report(merge(measured), archive_rate=archive_rate, run_dir=run_dir))


if __name__ == "__main__":
    app()
