"""Outbound API benchmark: calls queued per second by `POST /api/outbound-call`, beside a floor.

The floor is a bare FastAPI endpoint that takes the same JSON body and does one Redis write.
Both apps run under the same server (`uvicorn`, one process, the same flags) against the same
`redis-server` (AOF on, as `start.py` runs it), and this process drives both with the same
httpx async load: `--rounds` alternating rounds of `--requests` each at `--concurrency`, so
background load on the box hits both alike. It prints requests per second, p50 / p95 latency
and the ratio real / floor; it never asserts them.

`--fsync` names Redis' `appendfsync` policies to measure (set with CONFIG SET between rounds,
alternating too); with `always` and `everysec` it prints their throughput ratio, the number
the policy `start.py` and compose run Redis with rests on (README, "Durability").

    .venv/bin/python -m bench.outbound_api
    .venv/bin/python -m bench.outbound_api --requests 2000 --concurrency 32
    .venv/bin/python -m bench.outbound_api --fsync always --fsync everysec

Nothing dials: no dispatcher runs, the queued calls stay in the stream of a throwaway Redis.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import numpy as np
import typer
from fastapi import FastAPI, Request
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table

from api.main import create_app
from api.settings import ApiSettings
from dialroom.paths import ROOT
from dialroom.settings import DEV_DIALROOM_API_KEY
from stack.configs import APPENDFSYNC
from tests.support.redis_server import redis_server

BODY = {"to_number": "+14155550123", "persona": "demo", "caller_name": "Sam"}
HEADERS = {"X-API-Key": DEV_DIALROOM_API_KEY}
REAL_PATH, BARE_PATH = "/api/outbound-call", "/bare"

console = Console()
app = typer.Typer(add_completion=False)


def real_app() -> FastAPI:
    """The Dialroom API exactly as `python -m api` builds it (uvicorn `--factory`)."""
    return create_app(ApiSettings())


def bare_app() -> FastAPI:
    """The floor: parse the JSON body, write it to Redis once, answer 202 with an id."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
        yield
        await app.state.redis.aclose()

    bare = FastAPI(lifespan=lifespan)

    @bare.post(BARE_PATH, status_code=202)
    async def queue(body: dict[str, Any], request: Request) -> dict[str, str]:
        call_id = uuid.uuid4().hex
        await request.app.state.redis.set(f"bench:call:{call_id}", str(body))
        return {"status": "queued", "call_id": call_id}

    return bare


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def uvicorn_server(factory: str, *, redis_url: str, log: Path) -> Iterator[str]:
    """`uvicorn --factory bench.outbound_api:<factory>`, one process; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DIALROOM_DEV": "1",  # accept the dev API key
        "RATE_LIMIT_PER_MINUTE": str(10**9),  # measure the work, not the limiter's 429s
    }
    argv = [sys.executable, "-m", "uvicorn", "--factory", f"bench.outbound_api:{factory}"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    argv += ["--log-level", "warning"]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_listening(port, process, log)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not listening after 30s: {log.read_text()[-2000:]}")


async def load(
    url: str, path: str, *, requests: int, concurrency: int
) -> tuple[float, list[float]]:
    """`requests` POSTs from `concurrency` clients in a loop; (seconds, per-request latencies)."""
    latencies: list[float] = []
    remaining = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits) as client:

        async def one_client() -> None:
            for _ in remaining:
                sent = time.perf_counter()
                response = await client.post(path, json=BODY)
                latencies.append(time.perf_counter() - sent)
                if response.status_code != 202:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies


class Totals:
    def __init__(self) -> None:
        self.seconds = 0.0
        self.latencies: list[float] = []

    def add(self, seconds: float, latencies: list[float]) -> None:
        self.seconds += seconds
        self.latencies += latencies

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000


async def compare(
    urls: dict[str, str],
    *,
    redis_url: str,
    policies: list[str],
    rounds: int,
    requests: int,
    concurrency: int,
) -> dict[tuple[str, str], Totals]:
    """(endpoint, appendfsync policy) -> totals, over `rounds` rounds alternating both."""
    totals = {(name, policy): Totals() for policy in policies for name in urls}
    paths = {"real": REAL_PATH, "bare": BARE_PATH}
    for name, url in urls.items():  # warm-up: connections, imports, the persona list
        await load(url, paths[name], requests=min(200, requests), concurrency=concurrency)
    async with Redis.from_url(redis_url) as redis:
        for n in range(rounds):
            for policy in policies if n % 2 == 0 else list(reversed(policies)):
                await redis.config_set("appendfsync", policy)
                order = list(urls) if n % 2 == 0 else list(reversed(urls))
                for name in order:
                    seconds, latencies = await load(
                        urls[name], paths[name], requests=requests, concurrency=concurrency
                    )
                    totals[name, policy].add(seconds, latencies)
    return totals


WHAT = {
    "real": "auth, rate limit, validation, persona, enqueue",
    "bare": "parse JSON, one Redis SET",
}


def report(
    totals: dict[tuple[str, str], Totals],
    *,
    rounds: int,
    requests: int,
    concurrency: int,
    data_dir: Path,
) -> None:
    table = Table(
        title=f"outbound API: {rounds} x {requests} requests each, concurrency {concurrency}"
    )
    for column in ("endpoint", "appendfsync", "req/s", "p50", "p95", "what it does"):
        left = column in ("endpoint", "appendfsync", "what it does")
        table.add_column(column, justify="left" if left else "right")
    for (name, policy), total in totals.items():
        table.add_row(
            name,
            policy,
            f"{total.rate:.0f}",
            f"{total.percentile_ms(50):.1f} ms",
            f"{total.percentile_ms(95):.1f} ms",
            WHAT[name],
        )
    console.print(table)
    policies = list(dict.fromkeys(policy for _, policy in totals))
    for policy in policies:
        ratio = totals["real", policy].rate / totals["bare", policy].rate
        console.print(f"real / bare throughput, appendfsync {policy}: {ratio:.2f}")
    if {"always", "everysec"} <= set(policies):
        for name in ("real", "bare"):
            ratio = totals[name, "always"].rate / totals[name, "everysec"].rate
            console.print(f"{name}: appendfsync always / everysec throughput: {ratio:.2f}")
    load1, load5, load15 = os.getloadavg()
    console.print(
        f"uvicorn 1 process each (h11, asyncio); Redis AOF on {filesystem(data_dir)}; "
        f"{os.cpu_count()} CPUs, load average {load1:.2f}, {load5:.2f}, {load15:.2f}"
    )


def filesystem(path: Path) -> str:
    """`ext4 (/dev/vda)`: the file system fsync writes through, from /proc/mounts."""
    best = ("", "?", "?")
    for line in Path("/proc/mounts").read_text().splitlines():
        device, mount, kind = line.split()[:3]
        if str(path.resolve()).startswith(mount) and len(mount) >= len(best[0]):
            best = (mount, device, kind)
    return f"{best[2]} ({best[1]})"


@app.command()
def main(
    requests: Annotated[int, typer.Option(min=10, help="Requests per round and endpoint.")] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 16,
    rounds: Annotated[int, typer.Option(min=1, help="Alternating rounds per endpoint.")] = 3,
    fsync: Annotated[
        list[str] | None,
        typer.Option(help="Redis appendfsync policy to measure; repeat to compare (always, ...)."),
    ] = None,
) -> None:
    """Queued calls per second on POST /api/outbound-call, against a one-write floor."""
    policies = list(dict.fromkeys(fsync or [APPENDFSYNC]))
    if unknown := set(policies) - {"always", "everysec", "no"}:
        raise typer.BadParameter(f"unknown appendfsync policy: {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        work = Path(tmp)
        with redis_server(work / "redis") as redis_port:
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            with (
                uvicorn_server("real_app", redis_url=redis_url, log=work / "real.log") as real,
                uvicorn_server("bare_app", redis_url=redis_url, log=work / "bare.log") as bare,
            ):
                totals = asyncio.run(
                    compare(
                        {"real": real, "bare": bare},
                        redis_url=redis_url,
                        policies=policies,
                        rounds=rounds,
                        requests=requests,
                        concurrency=concurrency,
                    )
                )
        report(totals, rounds=rounds, requests=requests, concurrency=concurrency, data_dir=work)


if __name__ == "__main__":
    app()
