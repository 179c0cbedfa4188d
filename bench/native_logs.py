"""CPU of livekit-rtc's native log records reaching Python, against keeping them in Rust.

A real livekit-server on loopback (the stack's binary, dev keys), and in a fresh process per
run the exchange of `tests/support/native_log_probe.py`: two participants of one room, one
sending a 440 Hz tone (20 ms frames at 24 kHz) to the other, which reads it as a call process
reads its caller (16 kHz, 50 ms frames). Each run is either as livekit starts its runtime (log
capture on: every record handed to Python) or after `worker.rust_logs.keep_native` (what every
call process does); the two alternate. Printed: the process's CPU over the audio, as % of one
core per participant, and the records Python was handed per second. It prints numbers; it
never asserts.

    .venv/bin/python -m bench.native_logs --rounds 3 --seconds 20
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dialroom.settings import DEV_API_KEY, DEV_API_SECRET
from stack.install import LIVEKIT_SERVER
from stack.ports import free_range, free_single

console = Console()
app = typer.Typer(add_completion=False)
WAYS = {"livekit": "livekit's capture (every record to Python)", "native": "kept in Rust"}


def _server_config(folder: Path, port: int, taken: set[int]) -> Path:
    config = folder / "livekit.yaml"
    media = free_range(100, taken, random.Random())
    config.write_text(
        json.dumps(  # YAML is a superset of JSON
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "rtc": {
                    "tcp_port": free_single(taken),
                    "port_range_start": media.start,
                    "port_range_end": media.end,
                    "use_external_ip": False,
                    "node_ip": "127.0.0.1",
                    "enable_loopback_candidate": True,
                    "stun_servers": ["127.0.0.1:3478"],
                },
                "keys": {DEV_API_KEY: DEV_API_SECRET},  # the probe's tokens
                "logging": {"level": "warn"},
            }
        )
    )
    return config


async def _one_run(url: str, way: str, seconds: float) -> dict[str, float]:
    # imported here: the parent process never starts livekit's runtime
    from tests.support.native_log_probe import count_handed_records, tone_between_two
    from worker import rust_logs

    handed = count_handed_records()
    if way == "native":
        rust_logs.keep_native()
    async with tone_between_two(url, "bench") as send:
        handed[0] = 0
        cpu, wall = time.process_time(), time.monotonic()
        await send(seconds)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    return {"cpu_per_participant": cpu / wall * 100 / 2, "records_per_s": handed[0] / wall}


def _run_child(url: str, way: str, seconds: float) -> dict[str, float]:
    argv = [sys.executable, "-m", "bench.native_logs", "--child", way, "--url", url]
    done = subprocess.run(
        [*argv, "--seconds", str(seconds)], capture_output=True, text=True, timeout=seconds + 60
    )
    if done.returncode != 0:
        raise RuntimeError(f"run ({way}) failed: {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@app.command()
def main(
    rounds: Annotated[int, typer.Option(min=1, help="Alternated runs of each way.")] = 3,
    seconds: Annotated[float, typer.Option(min=2, help="Tone sent per run.")] = 20.0,
    child: Annotated[str, typer.Option(hidden=True)] = "",
    url: Annotated[str, typer.Option(hidden=True)] = "",
) -> None:
    """Print the CPU per participant with livekit's log capture, and with records kept in Rust."""
    if child:
        print(json.dumps(asyncio.run(_one_run(url, child, seconds))))
        return
    with tempfile.TemporaryDirectory() as folder:
        taken: set[int] = set()
        port = free_single(taken)
        config = _server_config(Path(folder), port, taken)
        server = subprocess.Popen(
            [str(LIVEKIT_SERVER.path), "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(2)
            results: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
            for n in range(rounds):
                for way in WAYS:
                    results[way].append(_run_child(f"ws://127.0.0.1:{port}", way, seconds))
                    console.print(f"round {n + 1}, {way}: {results[way][-1]}")
        finally:
            server.terminate()
            server.wait()
    _report(results, seconds)


def _report(results: dict[str, list[dict[str, float]]], seconds: float) -> None:
    table = Table(title=f"two participants in one process, {seconds:.0f} s of tone per run")
    for column in (
        "log records",
        "% of a core per participant, median",
        "min",
        "max",
        "records handed to Python / s",
    ):
        table.add_column(column)
    for way, runs in results.items():
        cpu = [r["cpu_per_participant"] for r in runs]
        rate = statistics.median(r["records_per_s"] for r in runs)
        table.add_row(
            WAYS[way],
            f"{statistics.median(cpu):.2f}",
            f"{min(cpu):.2f}",
            f"{max(cpu):.2f}",
            f"{rate:.0f}",
        )
    console.print(table)


if __name__ == "__main__":
    app()
