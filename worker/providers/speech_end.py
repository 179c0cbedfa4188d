"""The caller's end of speech placed at the line's last loud window, not where the VAD says.

Silero's speech probability decays over ~0.1-0.16 s after the last loud sample of a line (its
recurrent state smooths the trailing phoneme), and the VAD counts its `min_silence_duration`
only from where the probability fell. livekit-agents back-dates its end of speech by the VAD's
`silence_duration` alone (`voice/audio_recognition.py`: `time.time() - silence_duration -
inference_duration`), so the endpointing delay, and every reply, started that much late
(bench/README.md, "audio path").

`LineLevel` keeps the loudness (RMS, dBFS) of each window the VAD scored in the current
utterance. "Quiet" is relative to the utterance's own level: more than `QUIET_BELOW_DB` under
the 90th percentile of its windows (a click does not move it, a noisy line whose noise sits
above the threshold never reads quiet and keeps the VAD's own end). `EndAtLastVoiceVAD` is the
silero VAD whose END_OF_SPEECH reports the longer of the VAD's silence and the quiet run by
energy. It only moves where the silence is counted from: the VAD still decides *when* speech
ended (its own `min_silence_duration`, so a comma is not a turn).
"""

from __future__ import annotations

import math
from collections import deque
from concurrent.futures import Executor
from dataclasses import dataclass, replace

import numpy as np
from livekit import rtc
from livekit.agents import inference, vad

# livekit-agents 1.8.9's silero stream (private, pinned): subclassed so that a call's VAD is
# one stream; `inference.VAD.stream` is the only other place that builds one.
from livekit.agents.inference.vad import _VADOptions as SileroOptions
from livekit.agents.inference.vad import _VADStream as SileroStream

from worker.providers.speech_turns import SpeechTurns

# Below the utterance's typical loud level by this much, a window is silence. On the caller
# fixtures the last loud window of a line sits 15-25 dB under the line's level and the
# VAD's smoothed tail 30-80 dB under it (bench/README.md, `voice_hops`, "eos").
QUIET_BELOW_DB = 30.0
REFERENCE_PERCENTILE = 90.0
MAX_WINDOWS = 2048  # ~65 s of 32 ms windows: longer than any line the VAD buffers (60 s)
FLOOR_DBFS = -120.0


def level_dbfs(frame: rtc.AudioFrame) -> float:
    """RMS of a 16-bit frame in dB of full scale (digital silence: `FLOOR_DBFS`)."""
    samples = np.frombuffer(frame.data, dtype=np.int16).astype(np.float64)
    if samples.size == 0:
        return FLOOR_DBFS
    rms = math.sqrt(float(np.dot(samples, samples)) / samples.size) / 32768.0  # one pass
    return max(FLOOR_DBFS, 20.0 * math.log10(rms)) if rms > 0 else FLOOR_DBFS


@dataclass(frozen=True)
class Window:
    level_db: float
    duration_s: float


class LineLevel:
    """The loudness of one utterance's windows, newest last.

    A window's loudness is read when a question needs it (`threshold_db`, `quiet_s`, `push`),
    not as it is added: the call's VAD adds one every 32 ms, speaking or not, and asks once
    per end of speech."""

    def __init__(self, *, quiet_below_db: float = QUIET_BELOW_DB) -> None:
        self.quiet_below_db = quiet_below_db
        self._windows: deque[Window] = deque(maxlen=MAX_WINDOWS)
        self._unread: deque[tuple[list[rtc.AudioFrame], float]] = deque(maxlen=MAX_WINDOWS)

    def start(self) -> None:
        """A new utterance: its level is its own."""
        self._windows.clear()
        self._unread.clear()

    def add(self, frames: list[rtc.AudioFrame]) -> bool:
        """Adds one window (False if it holds no audio), its loudness read when asked for."""
        duration = sum(f.samples_per_channel / f.sample_rate for f in frames)
        if duration <= 0:
            return False
        self._unread.append((frames, duration))
        return True

    def push(self, frames: list[rtc.AudioFrame]) -> bool:
        """Adds one scored window; True if it is loud against the utterance so far."""
        return self.add(frames) and self._read()[-1].level_db >= self.threshold_db()

    def _read(self) -> deque[Window]:
        while self._unread:
            frames, duration = self._unread.popleft()
            self._windows.append(Window(max(level_dbfs(f) for f in frames), duration))
        return self._windows

    def threshold_db(self) -> float:
        """Windows under this level are quiet (relative to this utterance's loud windows)."""
        windows = self._read()
        if not windows:
            return FLOOR_DBFS
        levels = [w.level_db for w in windows]
        return float(np.percentile(levels, REFERENCE_PERCENTILE)) - self.quiet_below_db

    def quiet_s(self) -> float:
        """Seconds since the last loud window ended (all of them if none was loud)."""
        threshold = self.threshold_db()
        quiet = 0.0
        for window in reversed(self._read()):
            if window.level_db >= threshold:
                break
            quiet += window.duration_s
        return quiet


def end_silence_s(event: vad.VADEvent, level: LineLevel) -> float:
    """The silence an END_OF_SPEECH should report: the quiet run by energy where it is longer
    than the VAD's (never shorter, never reaching back before the utterance began)."""
    quiet = level.quiet_s()
    if quiet <= event.silence_duration:
        return event.silence_duration
    return min(quiet, event.silence_duration + event.speech_duration)


class EndAtLastVoiceVAD(inference.VAD):
    """livekit's silero VAD (same options, same model), its end of speech at the last loud
    window. A subclass, so the session and `update_options` see the VAD they expect."""

    def __init__(self, *, quiet_below_db: float = QUIET_BELOW_DB, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.quiet_below_db = quiet_below_db
        self.turns = SpeechTurns()  # what a non-streaming STT follows (`shared_vad_stt`)

    def stream(self) -> vad.VADStream:
        # as `inference.VAD.stream` builds its own: an options snapshot, kept for update_options
        stream = EndAtLastVoiceStream(self, replace(self._opts), executor=self._executor)
        self._streams.add(stream)
        return stream


class EndAtLastVoiceStream(SileroStream):
    """livekit's silero stream itself, its END_OF_SPEECH read with the silence by energy.

    The events are changed where the consumer takes them (`__anext__`), so a call's VAD is one
    stream: no second stream around it with its own channels, tasks and metrics per window
    (bench/README.md, "one VAD stream per call")."""

    def __init__(
        self, owner: EndAtLastVoiceVAD, opts: SileroOptions, *, executor: Executor | None
    ) -> None:
        super().__init__(owner, opts, executor=executor)
        self._level = LineLevel(quiet_below_db=owner.quiet_below_db)
        self._turns = owner.turns

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        super().push_frame(frame)
        self._turns.given(frame)

    async def __anext__(self) -> vad.VADEvent:
        event = self._seen(await super().__anext__())
        self._turns.publish(event)
        return event

    def _seen(self, event: vad.VADEvent) -> vad.VADEvent:
        if event.type == vad.VADEventType.START_OF_SPEECH:
            self._level.start()
        elif event.type == vad.VADEventType.INFERENCE_DONE:
            self._level.add(event.frames)
        elif event.type == vad.VADEventType.END_OF_SPEECH:
            silence = end_silence_s(event, self._level)
            moved = silence - event.silence_duration
            return replace(
                event,
                silence_duration=silence,
                speech_duration=max(0.0, event.speech_duration - moved),
            )
        return event
