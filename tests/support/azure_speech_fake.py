"""A local stand-in for Azure's speech-to-text service, spoken to by the real Speech SDK.

The SDK talks to Azure over a WebSocket (the same protocol an on-premises Speech container
serves at `ws://host:5000`), so an HTTP fake cannot stand in for it. This one speaks just
enough of it: it records how the SDK connected (path, query, key header), counts the audio it
is sent, and after `answer_after_bytes` of audio recognises one scripted phrase, with the
turn and speech events around it that the SDK expects.

Messages are text (headers, a blank line, a JSON body) or binary (a 2-byte header length, the
headers, the audio). Only loopback; one phrase per connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import WSMsgType, web

PATH = "/speech/recognition/conversation/cognitiveservices/v1"
TICKS_PER_S = 10_000_000  # Azure's offsets and durations are in 100 ns ticks


@dataclass
class Connection:
    path: str
    query: dict[str, str]
    key: str | None  # the Ocp-Apim-Subscription-Key header
    messages: list[str] = field(default_factory=list)  # Path of each text message sent to us
    audio_bytes: int = 0


class AzureSpeechFake:
    def __init__(self, *, phrase: str, answer_after_bytes: int = 16000) -> None:
        self.phrase = phrase
        self.answer_after_bytes = answer_after_bytes
        self.connections: list[Connection] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"ws://127.0.0.1:{self.port}{PATH}"

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
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                headers, _, _ = message.data.partition("\r\n\r\n")
                seen.messages.append(_headers(headers).get("Path", ""))
            elif message.type == WSMsgType.BINARY:
                size = int.from_bytes(message.data[:2], "big")
                request_id = _headers(message.data[2 : 2 + size].decode()).get("X-RequestId", "")
                seen.audio_bytes += len(message.data) - 2 - size
                if not answered and seen.audio_bytes >= self.answer_after_bytes:
                    answered = True
                    for path, body in self._recognition():
                        await ws.send_str(_text_message(path, request_id, body))
        return ws

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


def _headers(block: str) -> dict[str, str]:
    pairs = (line.split(":", 1) for line in block.split("\r\n") if ":" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def _text_message(path: str, request_id: str, body: dict[str, object]) -> str:
    return (
        f"X-RequestId: {request_id}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Path: {path}\r\n\r\n{json.dumps(body)}"
    )
