"""The call's VAD, told to the STT: the caller's turns as the session's VAD stream finds them.

A non-streaming STT (OpenAI) needs the caller's audio cut into utterances. livekit-agents'
`StreamAdapter` cuts it with a VAD stream of its own, a second silero stream over the same
call: every 32 ms window scored twice, with its channels, tasks and metrics twice
(bench/README.md, "one VAD stream per call"). `SpeechTurns` lets that STT take the
utterances the session's VAD stream already found (`shared_vad_stt`).

The two streams' audio is not always the same: livekit-agents gives the STT a silent frame in
place of the caller's while the agent's greeting warms up its echo cancellation and while it
speaks uninterruptibly (`agent_activity.push_audio`), and the VAD the real one. So the session's
stream also records which frames it was given (`heard`), and the STT can tell its own frames
that are stand-ins: frames the VAD never got.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from livekit import rtc
from livekit.agents import vad

logger = logging.getLogger("dialroom.worker")

HEARD_FRAMES = 1400  # the frames kept to compare: 70 s of 50 ms room frames (~2 MB at 16 kHz),
# past the longest utterance the VAD buffers (60 s); the STT holds the same frames, not copies

Follower = Callable[[vad.VADEvent], None]


class SpeechTurns:
    """Starts and ends of the caller's speech, from the session's VAD stream, to followers."""

    def __init__(self) -> None:
        self._followers: list[Follower] = []
        self._heard: deque[rtc.AudioFrame] = deque()
        self._heard_ids: set[int] = set()  # the frames are held, so their ids stay theirs

    def follow(self, follower: Follower) -> Callable[[], None]:
        """`follower` gets each START_OF_SPEECH and END_OF_SPEECH; returns how to stop."""
        self._followers.append(follower)

        def stop() -> None:
            if follower in self._followers:
                self._followers.remove(follower)
            if not self._followers:
                self._heard.clear()
                self._heard_ids.clear()

        return stop

    def given(self, frame: rtc.AudioFrame) -> None:
        """A frame the session's VAD stream was given (kept only while someone follows)."""
        if not self._followers:
            return
        if len(self._heard) == HEARD_FRAMES:
            self._heard_ids.discard(id(self._heard.popleft()))
        self._heard.append(frame)
        self._heard_ids.add(id(frame))

    def heard(self, frame: rtc.AudioFrame) -> bool:
        """Whether the session's VAD was given this very frame (not a stand-in for it)."""
        return id(frame) in self._heard_ids

    def publish(self, event: vad.VADEvent) -> None:
        if event.type not in (vad.VADEventType.START_OF_SPEECH, vad.VADEventType.END_OF_SPEECH):
            return
        for follower in list(self._followers):
            try:
                follower(event)
            except Exception:  # a follower's fault is its own: the session's VAD goes on
                logger.exception("a follower of the call's VAD failed on %s", event.type)
