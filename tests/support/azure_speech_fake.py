"""A local stand-in for Azure's speech-to-text service, spoken to by the real Speech SDK.

The SDK talks to Azure over a WebSocket (the same protocol an on-premises Speech container
serves at `ws://host:5000`), so an HTTP fake cannot stand in for it. This one speaks just
enough of it: it records how the SDK connected (path, query, key header, the text messages it
sent), counts the audio it is sent, and recognises one scripted phrase.

Two timings:

- `answer_after_bytes` (the default): after that much audio, the phrase at once, with the turn
  and speech events around it that the SDK expects. Enough to prove the wiring.
- `final_after_s` set: Azure's own timing, read from the audio's loudness. While voiced audio
  arrives, a hypothesis (Azure's interim: lower case, no punctuation, growing a word at a time)
  every `interim_every_s` of audio, and one with every word once the voice stops; the phrase
  (the final) only after `final_after_s` of silence, as Azure's segmentation silence does.
  `finals_sent_at` says when each final left, `voice_ended_at` when the last voiced audio of
  each phrase came in (wall clock, `time.time()`).

Messages are text (headers, a blank line, a JSON body) or binary (a 2-byte header length, the
headers, the audio). Only loopback; one phrase per voiced segment.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np
from aiohttp import WSMsgType, web

PATH = "/speech/recognition/conversation/cognitiveservices/v1"
TICKS_PER_S = 10_000_000  # Azure's offsets and durations are in 100 ns ticks
BYTES_PER_S = 16000 * 2  # the SDK streams 16 kHz, 16-bit mono
VOICED_RMS = 300.0  # int16 RMS of a 10 ms window above which it counts as speech


@dataclass
class Connection:
    path: str
    query: dict[str, str]
    key: str | None  # the Ocp-Apim-Subscription-Key header
    messages: list[str] = field(default_factory=list)  # Path of each text message sent to us
    bodies: dict[str, str] = field(default_factory=dict)  # Path -> the last body sent with it
    audio_bytes: int = 0

    @property
    def segmentation_silence_ms(self) -> int | None:
        """What the SDK asked for (`Speech_SegmentationSilenceTimeoutMs`), if anything."""
        context = json.loads(self.bodies.get("speech.context") or "{}")
        detection = context.get("phraseDetection", {})
        mode = detection.get(detection.get("mode", ""), {})
        return mode.get("segmentation", {}).get("segmentationSilenceTimeoutMs")


@dataclass
class _Segment:
    """Voice seen on one connection, in seconds of audio received."""

    started_s: float | None = None
    last_voiced_s: float = 0.0
    next_interim_s: float = 0.0
    voiced_s: float = 0.0
    said_all: bool = False
    words: int = 0  # of the phrase in the last hypothesis: never fewer than before
    last_voiced_at: float = 0.0  # time.time() when the last voiced audio came in
    turn_started: bool = False


class AzureSpeechFake:
    def __init__(
        self,
        *,
        phrase: str,
        answer_after_bytes: int = 16000,
        final_after_s: float | None = None,
        interim_every_s: float = 0.1,
        word_s: float = 0.2,
    ) -> None:
        self.phrase = phrase
        self.answer_after_bytes = answer_after_bytes
        self.final_after_s = final_after_s
        self.interim_every_s = interim_every_s
        self.word_s = word_s  # voiced audio per word of the growing hypothesis
        self.connections: list[Connection] = []
        self.interims_sent: list[tuple[float, str]] = []  # (time.time(), text)
        self.finals_sent_at: list[float] = []
        self.voice_ended_at: list[float] = []  # when each segment's last voiced audio came in
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"ws://127.0.0.1:{self.port}{PATH}"

    @property
    def hypothesis(self) -> str:
        """The phrase as Azure's interim results write it."""
        return " ".join(_words(self.phrase))

    async def __aenter__(self) -> AzureSpeechFake:
        app = web.Application()
        app.router.add_get(PATH, self._session)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _session(self, request: web.Request) -> web.WebSocketResponse:
        seen = Connection(
            path=request.path,
            query=dict(request.query),
            key=request.headers.get("Ocp-Apim-Subscription-Key"),
        )
        self.connections.append(seen)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        answered = False
        segment = _Segment()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                headers, _, body = message.data.partition("\r\n\r\n")
                path = _headers(headers).get("Path", "")
                seen.messages.append(path)
                seen.bodies[path] = body
            elif message.type == WSMsgType.BINARY:
                size = int.from_bytes(message.data[:2], "big")
                request_id = _headers(message.data[2 : 2 + size].decode()).get("X-RequestId", "")
                payload = message.data[2 + size :]
                audio = _pcm(payload)
                start_s = seen.audio_bytes / BYTES_PER_S
                seen.audio_bytes += len(audio)
                if self.final_after_s is not None:
                    replies = self._timed(segment, audio, start_s, ended=not payload)
                elif not answered and seen.audio_bytes >= self.answer_after_bytes:
                    answered, replies = True, self._recognition()
                else:
                    replies = []
                for path, body in replies:
                    await ws.send_str(_text_message(path, request_id, body))
                    self._sent(path, body)
        return ws

    def _sent(self, path: str, body: dict[str, object]) -> None:
        if path == "speech.hypothesis":
            self.interims_sent.append((time.time(), str(body["Text"])))
        elif path == "speech.phrase":
            self.finals_sent_at.append(time.time())

    def _recognition(self) -> list[tuple[str, dict[str, object]]]:
        duration = TICKS_PER_S
        return [
            ("turn.start", {"context": {"serviceTag": "fake"}}),
            ("speech.startDetected", {"Offset": 0}),
            ("speech.hypothesis", {"Text": self.phrase.split()[0], "Offset": 0, "Duration": 1}),
            (
                "speech.phrase",
                {
                    "RecognitionStatus": "Success",
                    "DisplayText": self.phrase,
                    "Offset": 0,
                    "Duration": duration,
                },
            ),
            ("speech.endDetected", {"Offset": duration}),
            ("turn.end", {}),
        ]

    def _timed(
        self, segment: _Segment, audio: bytes, start_s: float, *, ended: bool
    ) -> list[tuple[str, dict[str, object]]]:
        """Azure's timing, one 10 ms window of audio at a time."""
        replies: list[tuple[str, dict[str, object]]] = []
        samples = np.frombuffer(audio[: len(audio) // 2 * 2], dtype=np.int16)
        window = BYTES_PER_S // 2 // 100
        for i in range(0, len(samples), window):
            chunk = samples[i : i + window].astype(np.float64)
            now_s = start_s + (i + len(chunk)) / (BYTES_PER_S // 2)
            voiced = bool(np.sqrt(np.mean(chunk**2)) > VOICED_RMS)
            replies += self._step(segment, now_s, voiced, len(chunk) / (BYTES_PER_S // 2))
        if ended:  # the SDK's empty audio message: no more audio in this turn
            if segment.started_s is not None:
                replies += self._final(segment)
            replies += [("speech.endDetected", {"Offset": _ticks(start_s)}), ("turn.end", {})]
        return replies

    def _step(
        self, segment: _Segment, now_s: float, voiced: bool, step_s: float
    ) -> list[tuple[str, dict[str, object]]]:
        replies: list[tuple[str, dict[str, object]]] = []
        if voiced:
            if segment.started_s is None:
                segment.started_s = now_s - step_s
                segment.next_interim_s = now_s + self.interim_every_s
                offset = _ticks(segment.started_s)
                if not segment.turn_started:
                    segment.turn_started = True
                    replies.append(("turn.start", {"context": {"serviceTag": "fake"}}))
                replies.append(("speech.startDetected", {"Offset": offset}))
            segment.last_voiced_s = now_s
            segment.last_voiced_at = time.time()
            segment.voiced_s += step_s
            segment.said_all = False
        if segment.started_s is None:
            return replies
        if now_s >= segment.next_interim_s and not segment.said_all:
            segment.next_interim_s += self.interim_every_s
            silent = now_s - segment.last_voiced_s >= 2 * self.interim_every_s
            segment.words = max(segment.words, int(segment.voiced_s / self.word_s) + 1)
            segment.said_all = silent
            replies.append(("speech.hypothesis", self._hypothesis(segment, silent)))
        if now_s - segment.last_voiced_s >= self.final_after_s:  # type: ignore[operator]
            replies += self._final(segment)
        return replies

    def _hypothesis(self, segment: _Segment, complete: bool) -> dict[str, object]:
        words = _words(self.phrase)
        assert segment.started_s is not None
        if complete:
            segment.words = len(words)
        return {
            "Text": " ".join(words[: segment.words]),
            "Offset": _ticks(segment.started_s),
            "Duration": _ticks(segment.last_voiced_s - segment.started_s),
        }

    def _final(self, segment: _Segment) -> list[tuple[str, dict[str, object]]]:
        assert segment.started_s is not None
        offset = _ticks(segment.started_s)
        duration = _ticks(segment.last_voiced_s - segment.started_s)
        self.voice_ended_at.append(segment.last_voiced_at)
        segment.started_s, segment.voiced_s, segment.said_all, segment.words = None, 0.0, False, 0
        phrase = {
            "RecognitionStatus": "Success",
            "DisplayText": self.phrase,
            "Offset": offset,
            "Duration": duration,
        }
        return [("speech.phrase", phrase)]


def _pcm(audio: bytes) -> bytes:
    """The SDK's first audio message opens with a WAV header: not sound."""
    if audio.startswith(b"RIFF") and (data := audio.find(b"data")) >= 0:
        return audio[data + 8 :]
    return audio


def _words(phrase: str) -> list[str]:
    return re.sub(r"[^\w\s']", "", phrase).lower().split()


def _ticks(seconds: float) -> int:
    return int(seconds * TICKS_PER_S)


def _headers(block: str) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in block.split("\r\n") if ":" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def _text_message(path: str, request_id: str, body: dict[str, object]) -> str:
    return (
        f"X-RequestId: {request_id}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Path: {path}\r\n\r\n{json.dumps(body)}"
    )
