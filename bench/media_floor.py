"""The media path's own round trip: what any agent on this LiveKit stack pays, with no agent.

`bench.voice_hops` reports the platform's own part of a reply (the phone's total less the
persona's endpointing and the fakes' set times): 0.31-0.33 s p50 in the 2026-12-06 runs, of
which ~0.13 s lies between the phone and the worker and ~0.17 s between the worker and the
phone. This bench measures those two hops with nothing of Dialroom's in between: one real
stack with no worker (`start.py up --dev --auto-ports --num-agents 0`), a real SIP call from
the bench phone, and in the call's room an *echo*, a bare livekit-rtc participant that sends
each voiced 10 ms frame it receives straight back (`rtc.AudioStream` in, `rtc.AudioSource`
out, as livekit-agents' room input and output use them; silent frames are not sent, so each
beep starts the echo's track from silence, as each reply starts the agent's).

The phone plays `--beeps` short tones; the RTP tap (`bench.rtp_tap`, CAP_NET_RAW) timestamps
the phone's packets on loopback. For each beep it prints, on one clock:

- in: the beep's first voiced packet leaving the phone -> its first voiced frame at the echo
  (livekit-sip's receive and Opus encode, livekit-server, the SDK's WebRTC receive);
- out: the echo's first voiced frame captured -> the first voiced packet reaching the phone
  (the SDK's source and Opus encode, livekit-server, livekit-sip's mixer and G.711 send);
- round trip: in + out, the floor under `voice_hops`' "platform's own part" (packet to packet).

    .venv/bin/python -m bench.media_floor --calls 3 --beeps 10     # ~1.5 minutes

It never asserts timings.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from livekit import api, rtc
from rich.console import Console
from rich.table import Table

from bench.rtp_tap import Packet, RtpTap
from callcheck.phone import start_dialing
from callcheck.voice import THRESHOLD
from dialroom.paths import ROOT
from dialroom.settings import DEV_API_KEY, DEV_API_SECRET
from dispatcher.inbound import INBOUND_PREFIX
from tests.support.room_guest import room_token
from tests.support.stack import RunningStack, running_stack

RATE = 8000  # the phone's WAV: G.711's rate
BEEP_S = 0.25
GAP_S = 1.25  # silence after each beep: the echo's track goes idle, as between replies
FIRST_AT_S = 2.0  # the first beep, after the answer: time for the echo to join and publish
ECHO_RATE = 16000  # the room input's rate in Dialroom (AUDIO_INPUT_SAMPLE_RATE)
ONSET_GAP_S = 0.5  # a voiced packet or frame this long after the last one starts a beep

console = Console()
app = typer.Typer(add_completion=False)


def beeps_wav(path: Path, count: int) -> float:
    """`count` 1 kHz beeps at -10 dBFS, each followed by GAP_S of silence; its length in s."""
    t = np.arange(int(RATE * BEEP_S)) / RATE
    beep = (0.3 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    one = np.concatenate([beep, np.zeros(int(RATE * GAP_S), dtype=np.int16)])
    samples = np.tile(one, count)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return len(samples) / RATE


def onsets(times: list[float]) -> list[float]:
    """The first of each run of times that follows ONSET_GAP_S without one."""
    found: list[float] = []
    last = float("-inf")
    for at in sorted(times):
        if at - last > ONSET_GAP_S:
            found.append(at)
        last = at
    return found


@dataclass
class Echo:
    """A bare livekit-rtc participant that sends back every voiced frame it receives."""

    url: str
    voiced_in: list[float] = field(default_factory=list)  # time.time() of each voiced frame
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def run_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    async def _run(self) -> None:
        try:
            async with api.LiveKitAPI(self.url, DEV_API_KEY, DEV_API_SECRET) as lk:
                name = await self._call_room(lk)
            if name is not None:
                await self._echo(name)
        except Exception as err:  # a bench reports what failed and goes on to print
            self.error = f"echo: {err!r}"

    async def _call_room(self, lk: api.LiveKitAPI) -> str | None:
        """The room of the call about to be placed: a caller's room not listed before."""
        earlier = {room.name for room in await self._rooms(lk)}
        while not self._stop.is_set():
            for room in await self._rooms(lk):
                if room.name.startswith(INBOUND_PREFIX) and room.name not in earlier:
                    return room.name
            await asyncio.sleep(0.05)
        return None

    @staticmethod
    async def _rooms(lk: api.LiveKitAPI) -> list[api.Room]:
        return list((await lk.room.list_rooms(api.ListRoomsRequest())).rooms)

    async def _echo(self, name: str) -> None:
        room = rtc.Room()
        source = rtc.AudioSource(ECHO_RATE, 1, queue_size_ms=200)  # as livekit-agents' output
        tasks: set[asyncio.Task[None]] = set()

        def subscribed(track: rtc.Track, *_: object) -> None:
            if track.kind == rtc.TrackKind.KIND_AUDIO:
                task = asyncio.create_task(self._send_back(track, source))
                tasks.add(task)

        room.on("track_subscribed", subscribed)
        await room.connect(self.url, room_token(name, "echo"))
        track = rtc.LocalAudioTrack.create_audio_track("echo", source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        await room.local_participant.publish_track(track, options)
        await asyncio.to_thread(self._stop.wait)
        for task in tasks:
            task.cancel()
        await room.disconnect()

    async def _send_back(self, track: rtc.Track, source: rtc.AudioSource) -> None:
        stream = rtc.AudioStream(track, sample_rate=ECHO_RATE, num_channels=1)
        async for event in stream:
            frame = event.frame
            samples = np.frombuffer(frame.data, dtype=np.int16) / 32768.0
            if float(np.sqrt(np.mean(samples**2))) > THRESHOLD:
                self.voiced_in.append(time.time())
                await source.capture_frame(frame)


@dataclass(frozen=True)
class Beep:
    sent: float  # the beep's first voiced packet left the phone
    at_echo: float | None
    back: float | None  # the echo's first voiced packet reached the phone


def beeps(packets: list[Packet], phone: str, echo_in: list[float]) -> list[Beep]:
    sent = onsets([p.at for p in packets if p.src == phone and p.voiced])
    back = onsets([p.at for p in packets if p.dst == phone and p.voiced])
    echoed = onsets(echo_in)

    def after(times: list[float], start: float) -> float | None:
        later = [t for t in times if start <= t <= start + 1.0]
        return later[0] if later else None

    return [Beep(at, after(echoed, at), after(back, at)) for at in sent]


def p50_p95(values: list[float]) -> tuple[str, str]:
    if not values:
        return "-", "-"
    p50, p95 = np.percentile(values, [50, 95]).tolist()
    return f"{p50:.3f} s", f"{p95:.3f} s"


def report(found: list[Beep], calls: int) -> None:
    rows = {
        "in: phone packet -> echo frame": [b.at_echo - b.sent for b in found if b.at_echo],
        "out: echo frame -> phone packet": [
            b.back - b.at_echo for b in found if b.back and b.at_echo
        ],
        "round trip: phone packet -> phone packet": [b.back - b.sent for b in found if b.back],
    }
    table = Table(title=f"the media path with no agent ({len(found)} beeps, {calls} calls)")
    for column in ("hop", "p50", "p95", "beeps"):
        table.add_column(column, justify="left" if column == "hop" else "right")
    for hop, values in rows.items():
        table.add_row(hop, *p50_p95(values), str(len(values)))
    console.print(table)


def one_call(stack: RunningStack, run_dir: Path, count: int, tap: RtpTap) -> list[Beep]:
    """One call of `count` beeps; its beeps, each printed."""
    wav = run_dir / "beeps.wav"
    length = beeps_wav(wav, count)
    echo = Echo(stack.state.livekit_url)
    thread = echo.run_in_thread()
    started = time.time()  # the phone may reuse its RTP port: this call's packets come after
    phone = start_dialing(
        stack.state.sip_uri,
        result_dir=run_dir,
        play=[(wav, FIRST_AT_S)],
        hangup_after=FIRST_AT_S + length + 1.0,
        timeout=FIRST_AT_S + length + 30,
    )
    with phone:
        result = phone.result(FIRST_AT_S + length + 45)
    echo.stop()
    thread.join(10)
    if echo.error:
        console.print(f"[red]{echo.error}[/]")
    call = result.call
    if call.rtp_local is None:
        console.print("[red]the phone reported no RTP address: nothing measured[/]")
        return []
    found = beeps([p for p in tap.packets if p.at >= started], call.rtp_local, echo.voiced_in)
    for number, beep in enumerate(found, start=1):
        hops = [("in", beep.at_echo), ("back", beep.back)]
        chain = "  ".join(f"{n}={t - beep.sent:.3f}" for n, t in hops if t is not None)
        console.print(f"{run_dir.name} beep {number}: {chain}")
    return found


@app.command()
def main(
    beeps_per_call: Annotated[
        int, typer.Option("--beeps", min=1, max=200, help="Beeps the phone plays in each call.")
    ] = 10,
    calls: Annotated[
        int, typer.Option(min=1, max=50, help="Calls, one after another (each its own room).")
    ] = 3,
    run_dir: Annotated[Path, typer.Option(help="The stack's run directory.")] = ROOT
    / ".run"
    / "bench-media-floor",
) -> None:
    """CALLS calls into rooms with a bare echo participant; print the media path's hops."""
    run_dir = run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    tap = RtpTap()
    if not tap.start():
        console.print(f"[red]{tap.error}: this bench reads packet times, nothing to measure[/]")
        raise typer.Exit(2)
    env = {"INBOUND_WAIT_S": "600"}  # no worker: the dispatcher leaves the caller be
    start_load = os.getloadavg()[0]
    try:
        with (
            console.status("starting the stack (no workers)"),
            running_stack(run_dir, num_agents=0, env=env) as stack,
        ):
            found: list[Beep] = []
            for index in range(1, calls + 1):
                call_dir = run_dir / f"call-{index:02d}"
                call_dir.mkdir(exist_ok=True)
                found += one_call(stack, call_dir, beeps_per_call, tap)
                time.sleep(1.0)  # the last call's room closes
    finally:
        tap.stop()
    report(found, calls)
    load = f"{start_load:.2f} -> {os.getloadavg()[0]:.2f}"
    console.print(f"{os.cpu_count()} CPUs, load average (1 min) {load}; logs: {run_dir}")


if __name__ == "__main__":
    app()
