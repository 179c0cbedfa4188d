"""Call history benchmark: `GET /api/calls` filtered pages with `--calls` calls in the history.

For each engine, a SQLite file in a temporary folder and a PostgreSQL server (Debian's, as the
tests start it), the history is filled with `--calls` finished calls of realistic variety
(both directions, five personas, outcomes, repeat callers, campaigns, trunks, one call in
five recorded, started over 90 days, 1-6 measured replies each) through
`HistoryStore.import_calls`. Then the real API (uvicorn `--factory`, one process, the same
throwaway `redis-server`) answers `--requests` filtered pages per query shape, one client at a
time and then 8 at once. It prints p50 / p95 per engine and shape and whether p95 is under the
issue's 100 ms; it never asserts them.

    .venv/bin/python -m bench.call_history                  # 100,000 calls, a few minutes
    .venv/bin/python -m bench.call_history --calls 10000 --requests 50
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import httpx
import numpy as np
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.outbound_api import HEADERS, uvicorn_server
from dialroom.call_status import CallStatus
from dialroom.calls import CallRecord, TranscriptLine, TurnLatency
from dialroom.history import ArchivedCall, open_history
from dialroom.recordings import RecordingRef
from tests.support.history import new_postgres_database, sqlite_url
from tests.support.postgres_server import postgres_server
from tests.support.redis_server import redis_server

PERSONAS = ("demo", "support", "survey", "booking", "collections")
INBOUND_OUTCOMES = ("caller_hung_up", "agent_hung_up", "transferred", "lines_busy", "error")
OUTBOUND_STATUSES = (CallStatus.COMPLETED, CallStatus.NO_ANSWER, CallStatus.BUSY)
TRUNKS = ("ST_main", "ST_eu", "ST_us_east", "ST_backup")
CAMPAIGNS = tuple(f"cmp_{n:04d}" for n in range(40))
DAY = 86_400.0
BATCH = 2000
TARGET_MS = 100.0

console = Console()
app = typer.Typer(add_completion=False)


class Calls:
    """A reproducible stream of varied finished calls, and the values the queries ask for."""

    def __init__(self, count: int, *, now: float, seed: int = 12) -> None:
        self.count, self.now, self.rng = count, now, random.Random(seed)
        # repeat callers: a listing by the last digits of a number finds a few calls
        self.numbers = [
            f"+1{self.rng.randrange(2_000_000_000, 9_999_999_999)}" for _ in range(count // 20 + 1)
        ]

    def __iter__(self) -> Iterator[ArchivedCall]:
        for n in range(self.count):
            yield self.one(n)

    def one(self, n: int) -> ArchivedCall:
        rng = self.rng
        at = self.now - rng.random() * 90 * DAY
        persona, trunk = rng.choice(PERSONAS), rng.choice(TRUNKS)
        number, ours = rng.choice(self.numbers), f"+1555000{rng.randrange(1000, 9999)}"
        call_id = f"bench{n:010d}"
        if rng.random() < 0.5:
            return self._inbound(call_id, at, persona, trunk, number, ours)
        return self._outbound(call_id, at, persona, trunk, number, ours)

    def _record(
        self, call_id: str, at: float, persona: str, trunk: str, outcome: str, **numbers: str
    ) -> CallRecord:
        rng = self.rng
        turns = [
            TurnLatency(at=at + 5 + 8 * i, voice_to_voice_s=round(rng.uniform(0.6, 2.4), 3))
            for i in range(rng.randint(1, 6))
        ]
        transcript = [
            TranscriptLine(role=role, text=f"line {i} of the call", at=at + 4 * i)
            for i, role in enumerate(["agent", "caller"] * len(turns))
        ]
        recorded = rng.random() < 0.2
        return CallRecord(
            call_id=call_id,
            persona=persona,
            direction=numbers.pop("direction"),  # type: ignore[arg-type]
            room=f"call-{call_id}",
            trunk=trunk,
            started_at=at,
            ended_at=at + 10 + 8 * len(turns),
            outcome=outcome,
            transcript=transcript,
            turns=turns,
            recording=RecordingRef(
                key=f"{call_id}.ogg", duration_s=8.0 * len(turns), size_bytes=20_000
            )
            if recorded
            else None,
            **numbers,
        )

    def _inbound(
        self, call_id: str, at: float, persona: str, trunk: str, caller: str, ours: str
    ) -> ArchivedCall:
        outcome = self.rng.choice(INBOUND_OUTCOMES)
        record = self._record(
            call_id, at, persona, trunk, outcome,
            direction="inbound", caller_number=caller, called_number=ours,
        )  # fmt: skip
        return ArchivedCall(
            call_id=call_id, direction="inbound", persona=persona, outcome=outcome,
            started_at=at, ended_at=record.ended_at, caller_number=caller, called_number=ours,
            record=record,
        )  # fmt: skip

    def _outbound(
        self, call_id: str, at: float, persona: str, trunk: str, called: str, ours: str
    ) -> ArchivedCall:
        rng = self.rng
        status = rng.choice(OUTBOUND_STATUSES)
        campaign = rng.choice(CAMPAIGNS) if rng.random() < 0.6 else None
        record = None
        if status is CallStatus.COMPLETED:
            record = self._record(
                call_id, at, persona, trunk, "agent_hung_up",
                direction="outbound", caller_number=ours, called_number=called,
            )  # fmt: skip
        return ArchivedCall(
            call_id=call_id, direction="outbound", persona=persona,
            outcome=record.outcome if record else status.value, status=status,
            started_at=at, ended_at=record.ended_at if record else at + 30,
            caller_number=ours, called_number=called, campaign_id=campaign, record=record,
        )  # fmt: skip


async def seed(url: str, calls: Calls, *, label: str) -> float:
    """Fill the history at `url`; seconds it took."""
    store = await open_history(url)
    started = time.perf_counter()
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"seeding {label}", total=calls.count)
            batch: list[ArchivedCall] = []
            for call in calls:
                batch.append(call)
                if len(batch) == BATCH:
                    await store.import_calls(batch)
                    progress.advance(task, len(batch))
                    batch = []
            await store.import_calls(batch)
            progress.advance(task, len(batch))
    finally:
        await store.close()
    return time.perf_counter() - started


def shapes(calls: Calls) -> dict[str, dict[str, str]]:
    """The query shapes: name -> `GET /api/calls` parameters."""
    week_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calls.now - 7 * DAY))
    return {
        "persona+outcome": {"persona": "support", "outcome": "caller_hung_up"},
        "last 4 digits": {"number": calls.numbers[7][-4:]},
        "inbound, 7 days": {"direction": "inbound", "since": week_ago},
        "has_recording": {"has_recording": "true"},
        "trunk": {"trunk": "ST_eu"},
        "campaign": {"campaign": CAMPAIGNS[3]},
        "page 2 (cursor)": {"persona": "demo", "page": "2"},
    }


async def time_shape(
    client: httpx.AsyncClient, params: dict[str, str], *, requests: int, concurrency: int
) -> list[float]:
    """`requests` GETs from `concurrency` clients; per-request seconds."""
    query = dict(params)
    if query.pop("page", None):  # the second page: the first page's next_cursor
        first = await client.get("/api/calls", params=query)
        query["cursor"] = first.json()["next_cursor"]
    latencies: list[float] = []
    remaining = iter(range(requests))

    async def one_client() -> None:
        for _ in remaining:
            sent = time.perf_counter()
            response = await client.get("/api/calls", params=query)
            latencies.append(time.perf_counter() - sent)
            if response.status_code != 200:
                raise RuntimeError(f"{query}: {response.status_code} {response.text[:300]}")

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies


async def measure(
    url: str, queries: dict[str, dict[str, str]], *, requests: int
) -> dict[tuple[str, int], list[float]]:
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    found: dict[tuple[str, int], list[float]] = {}
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits) as client:
        for params in queries.values():  # warm-up: connections, caches
            await time_shape(client, params, requests=5, concurrency=1)
        for concurrency in (1, 8):
            for name, params in queries.items():
                found[name, concurrency] = await time_shape(
                    client, params, requests=requests, concurrency=concurrency
                )
    return found


def run_engine(
    engine: str, url: str, calls: Calls, *, requests: int, work: Path, redis_url: str
) -> tuple[float, dict[tuple[str, int], list[float]]]:
    seconds = asyncio.run(seed(url, calls, label=engine))
    os.environ["DATABASE_URL"] = url  # the API process inherits it
    with uvicorn_server("real_app", redis_url=redis_url, log=work / f"{engine}.log") as api:
        return seconds, asyncio.run(measure(api, shapes(calls), requests=requests))


def report(
    results: dict[str, tuple[float, dict[tuple[str, int], list[float]]]],
    *,
    calls: int,
    requests: int,
) -> None:
    table = Table(
        title=f"GET /api/calls, {calls:,} calls in the history, {requests} requests per row"
    )
    for column in ("engine", "shape", "clients", "p50", "p95", "p95 < 100 ms"):
        table.add_column(column, justify="left" if column in ("engine", "shape") else "right")
    for engine, (_, found) in results.items():
        for (shape, concurrency), latencies in found.items():
            p50, p95 = (float(np.percentile(latencies, q)) * 1000 for q in (50, 95))
            table.add_row(
                engine, shape, str(concurrency), f"{p50:.1f} ms", f"{p95:.1f} ms",
                "yes" if p95 < TARGET_MS else "NO",
            )  # fmt: skip
    console.print(table)
    for engine, (seconds, _) in results.items():
        console.print(f"{engine}: seeded {calls:,} calls in {seconds:.0f} s")
    load1, load5, load15 = os.getloadavg()
    console.print(
        f"uvicorn 1 process (h11, asyncio); {os.cpu_count()} CPUs, "
        f"load average {load1:.2f}, {load5:.2f}, {load15:.2f}"
    )


@app.command()
def main(
    calls: Annotated[int, typer.Option(min=100, help="Calls in the history.")] = 100_000,
    requests: Annotated[
        int, typer.Option(min=10, help="Requests per shape and concurrency.")
    ] = 200,
    engine: Annotated[
        list[str] | None, typer.Option(help="sqlite, postgresql (repeat; default both).")
    ] = None,
) -> None:
    """p50 / p95 of filtered `GET /api/calls` pages with a full history, SQLite and PostgreSQL."""
    engines = list(dict.fromkeys(engine or ["sqlite", "postgresql"]))
    if unknown := set(engines) - {"sqlite", "postgresql"}:
        raise typer.BadParameter(f"unknown engine: {', '.join(sorted(unknown))}")
    now = time.time()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        work = Path(tmp)
        with redis_server(work / "redis") as redis_port, postgres_or_none(engines) as admin:
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            for name in engines:
                url = (
                    sqlite_url(work)
                    if name == "sqlite"
                    else asyncio.run(new_postgres_database(admin))
                )
                results[name] = run_engine(
                    name, url, Calls(calls, now=now), requests=requests, work=work,
                    redis_url=redis_url,
                )  # fmt: skip
    report(results, calls=calls, requests=requests)


@contextmanager
def postgres_or_none(engines: list[str]) -> Iterator[str]:
    if "postgresql" not in engines:
        yield ""
        return
    with postgres_server() as admin:
        yield admin


if __name__ == "__main__":
    app()
