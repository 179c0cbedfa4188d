"""CPU of a call's caller-audio path with a non-streaming cloud STT (OpenAI): one VAD stream or two.

livekit-agents cuts a non-streaming STT's audio with a VAD stream of its own (`StreamAdapter`),
beside the session's; Dialroom's `SharedVadSTT` follows the session's stream instead
(`worker/providers/shared_vad_stt.py`). This feeds the same caller audio (the "Tuesday" line and
1 s of silence, repeated, in the room input's 50 ms frames) through the call's VAD stream and
each STT, reads both as a session does, and prints the CPU per second of audio, as % of one
core per call. The recogniser is a stand-in that answers at once: the cloud's time is not the
box's. In-process, no stack: it prints numbers; it never asserts.

    .venv/bin/python -m bench.vad_streams --rounds 5
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Annotated

import typer
from livekit.agents import stt
from rich.console import Console
from rich.table import Table

from dialroom.persona import load_persona
from tests.support.caller_vad import RecordingSTT, caller_frames, run_call
from worker.providers.shared_vad_stt import SharedVadSTT
from worker.providers.vad import build_call_vad

console = Console()
app = typer.Typer(add_completion=False)
WAYS = ("StreamAdapter (its own VAD stream)", "SharedVadSTT (the call's VAD stream)")


async def one_call(shared: bool, repeats: int) -> tuple[float, int]:
    """% of one core per second of caller audio, and the utterances transcribed."""
    voice = build_call_vad(load_persona("demo"))
    recogniser = RecordingSTT()
    follower: stt.STT = (
        SharedVadSTT(recogniser, voice_activity=voice)
        if shared
        else stt.StreamAdapter(stt=recogniser, vad=voice)
    )
    frames = caller_frames() * repeats
    audio_s = sum(f.duration for f in frames)
    started = time.process_time()
    await run_call(voice, follower, frames)
    return (time.process_time() - started) / audio_s * 100, len(recogniser.buffers)


@app.command()
def main(
    rounds: Annotated[int, typer.Option(min=1, help="Alternated runs of each way.")] = 5,
    repeats: Annotated[
        int, typer.Option(min=1, help="Times the 3.2 s caller line is said per run.")
    ] = 4,
) -> None:
    """Print the CPU of the caller-audio path per call, each way, median over the rounds."""
    cpu: dict[bool, list[float]] = {False: [], True: []}
    heard: dict[bool, int] = {}
    with console.status("feeding the caller's audio"):
        for _ in range(rounds):
            for shared in (False, True):
                percent, heard[shared] = asyncio.run(one_call(shared, repeats))
                cpu[shared].append(percent)
    table = Table(title=f"caller audio -> VAD and STT, {rounds} rounds of {repeats} lines")
    for column in ("STT cut by", "% of a core per call, median", "min", "max", "utterances"):
        table.add_column(column)
    for shared, way in zip((False, True), WAYS, strict=True):
        values = cpu[shared]
        table.add_row(
            way,
            f"{statistics.median(values):.2f}",
            f"{min(values):.2f}",
            f"{max(values):.2f}",
            str(heard[shared]),
        )
    console.print(table)


if __name__ == "__main__":
    app()
