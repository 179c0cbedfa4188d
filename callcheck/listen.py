"""Taking turns by ear: the phone says its next line once the far end has spoken and gone
quiet, as a person on the line would, so a check needs no idea of how long replies take.

`FarEnd` follows the phone's own recording as it grows on disk (PJSUA's WAV writer flushes it
every quarter second or so); `TurnTaker` decides, from what `FarEnd` heard, when the next line
is due and when the call is over. Positions are seconds into the recording, which starts when
media is active, the same clock the phone's plays are scheduled on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from callcheck.voice import WINDOW_S, voiced

WAV_HEADER = 44  # PJSUA writes a plain 44-byte PCM header first, and fixes its sizes at the end
RATE = 8000  # the phone records at its conference clock rate


class FarEnd:
    """What the far end said so far, read from the recording as it is written."""

    def __init__(self, recording: Path) -> None:
        self.recording = recording
        self._offset = WAV_HEADER
        self._tail = b""
        self.heard_s = 0.0  # how much of the recording has been read
        self.voice_ends: list[float] = []  # end of each voiced window, in order

    def poll(self) -> None:
        """Read what the writer added since the last poll."""
        try:
            with self.recording.open("rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        self.add(data)

    def add(self, data: bytes) -> None:
        data = self._tail + data
        step = int(RATE * WINDOW_S) * 2
        whole = len(data) // step * step
        self._tail = data[whole:]
        if not whole:
            return
        windows = voiced(np.frombuffer(data[:whole], dtype="<i2"), rate=RATE)
        start = self.heard_s
        self.voice_ends += [start + (i + 1) * WINDOW_S for i in np.flatnonzero(windows)]
        self.heard_s = start + len(windows) * WINDOW_S

    def spoke_after(self, at: float) -> bool:
        return bool(self.voice_ends) and self.voice_ends[-1] > at

    def quiet_s(self) -> float:
        """Seconds of silence at the end of what was heard."""
        return self.heard_s - (self.voice_ends[-1] if self.voice_ends else 0.0)


@dataclass(kw_only=True)
class TurnTaker:
    """When each of `lines` is due: after the far end spoke following the previous line (or,
    for the first, the greeting) and then kept quiet `quiet_s`; after `reply_timeout_s` with no
    reply, at once. After the last line's reply, the call is over `end_grace_s` later (time
    for the agent to hang up itself)."""

    lines: list[float]  # each line's length in seconds
    quiet_s: float = 1.2
    reply_timeout_s: float = 15.0
    end_grace_s: float = 5.0
    said: list[float] = field(default_factory=list)  # when each line started
    _done_at: float | None = None

    def _waiting_since(self) -> float:
        """Where the far end's answer to the last thing said can start."""
        if not self.said:
            return 0.0
        return self.said[-1] + self.lines[len(self.said) - 1]

    def _answered(self, ear: FarEnd, now: float) -> bool:
        since = self._waiting_since()
        if ear.spoke_after(since) and ear.quiet_s() >= self.quiet_s:
            return True
        return now >= since + self.reply_timeout_s

    def next_line(self, ear: FarEnd, now: float) -> int | None:
        """The index of the line to say now, if one is due (`now`: seconds since media)."""
        if len(self.said) >= len(self.lines) or now < self._waiting_since():
            return None
        if not self._answered(ear, now):
            return None
        self.said.append(now)
        return len(self.said) - 1

    def finished(self, ear: FarEnd, now: float) -> bool:
        """All lines said, the last one answered, and the grace time gone."""
        if len(self.said) < len(self.lines) or now < self._waiting_since():
            return False
        if self._done_at is None and self._answered(ear, now):
            self._done_at = now
        return self._done_at is not None and now >= self._done_at + self.end_grace_s
