"""CPU of livekit-rtc's native log records reaching Python, against keeping them in Rust.

A real livekit-server on loopback (the stack's binary, dev keys), and in a fresh process per
run two participants of one room, one sending a 440 Hz tone (20 ms frames at 24 kHz) to the
other, which reads it as a call process reads its caller (16 kHz, 50 ms frames). Each run is
either as livekit starts its runtime (log capture on: every record handed to Python) or after
`worker.rust_logs.keep_native` (what every call process does); the two alternate. Printed:
the process's CPU over the audio, as % of one core per participant, and the records Python
was handed per second. It prints numbers; it never asserts.

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
                "keys": {"devkey": "secret" * 6},
                "logging": {"level": "warn"},
            }
        )
    )
    return config


async def _one_run(url: str, way: str, seconds: float) -> dict[str, float]:
    # imported here: the parent process never starts livekit's runtime
    import numpy as np
    from livekit import api, rtc
    from livekit.rtc import _ffi_client

    from worker import rust_logs

    handed = [0]
    to_level = _ffi_client.to_python_level

    def counting(level: int) -> int | None:  # livekit calls it once per record handed over
        handed[0] += 1
        return to_level(level)

    _ffi_client.to_python_level = counting
    if way == "native":
        rust_logs.keep_native()

    def token(identity: str) -> str:
        grants = api.VideoGrants(room_join=True, room="bench")
        return (
            api.AccessToken("devkey", "secret" * 6)
            .with_identity(identity)
            .with_grants(grants)
            .to_jwt()
        )

    sender, listener = rtc.Room(), rtc.Room()
    await sender.connect(url, token("sender"))
    await listener.connect(url, token("listener"))
    source = rtc.AudioSource(24000, 1)
    subscribed: asyncio.Future[rtc.Track] = asyncio.get_running_loop().create_future()
    listener.on("track_subscribed", lambda t, *_: subscribed.done() or subscribed.set_result(t))
    track = rtc.LocalAudioTrack.create_audio_track("tone", source)
    await sender.local_participant.publish_track(track)
    stream = rtc.AudioStream.from_track(
        track=await asyncio.wait_for(subscribed, 15), sample_rate=16000, frame_size_ms=50
    )

    async def drain() -> None:
        async for _ in stream:
            pass

    reading = asyncio.create_task(drain())
    tone = (np.sin(np.arange(480) * 2 * np.pi * 440 / 24000) * 8000).astype(np.int16).tobytes()
    handed[0] = 0
    cpu, wall = time.process_time(), time.monotonic()
    for _ in range(int(seconds * 50)):
        await source.capture_frame(rtc.AudioFrame(tone, 24000, 1, 480))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    reading.cancel()
    await sender.disconnect()
    await listener.disconnect()
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
