"""Local fakes of the cloud APIs production personas use, served on 127.0.0.1.

No test may reach Azure or OpenAI, yet the real plugins (livekit-plugins-openai / -azure)
must be proven to send the right requests. `FakeCloud` is one small aiohttp server that
answers like those services do, records every request, and can be slowed down or broken.

Routes (one server, one port):

- `POST /v1/chat/completions`: OpenAI chat completions, streaming SSE (or plain JSON);
  auth `Authorization: Bearer <openai_key>`.
- `POST /openai/deployments/{deployment}/chat/completions`: Azure OpenAI, same body;
  auth `api-key: <openai_key>` (or the Bearer header).
- `POST /v1/audio/transcriptions`: OpenAI STT, multipart in, `{"text": transcript}` out;
  auth as chat.
- `POST /cognitiveservices/v1`: Azure TTS REST: SSML in, raw 16-bit mono PCM out at the rate
  `X-Microsoft-OutputFormat` names (`raw-24khz-16bit-mono-pcm`, ...); auth
  `Ocp-Apim-Subscription-Key: <azure_speech_key>`.

A wrong or missing key gets `401` (OpenAI's JSON error body; Azure's empty body).

Use it from a test's event loop or from a background thread (sync code, benchmarks)::

    fake = FakeCloud(openai_key="sk-test", azure_speech_key="az-test", latency_s=0.2)
    async with fake:                        # or: with fake.in_thread(): ...
        llm = openai.LLM(base_url=fake.openai_base_url, api_key="sk-test", model="m")
        ...
        fake.requests_to("chat")[-1].headers["Authorization"]   # "Bearer sk-test"

Or as its own process: `python -m tests.support.cloud_fakes --port 8787 --latency 0.2`
(prints `ready <base url>`, serves until killed).

Behaviour knobs (plain attributes, change them between requests):

- `chat_reply`: the text a chat completion streams; a string, or a function of the request's
  `messages` list; default echoes the last user message (`"You said: ..."`).
- `chat_script`: a list consumed one item per chat request before `chat_reply` applies; an
  item is a reply string or a `ToolCallReply(name, arguments)` (answered as a tool call).
- `transcript`: what `/v1/audio/transcriptions` returns.
- `speech`: `"piper"` (the project's local voice, resampled to the asked rate) or `"tone"`
  (a 440 Hz tone, 60 ms per character, no CPU cost). Speech is rendered once per text and
  rate, so a text said again (or rendered ahead with `prepare_speech`) costs no synthesis time
  and its first byte comes `latency_s` after the request.
- `latency_s`: delay before each response's first byte (`latencies` sets it per route:
  `{"chat": 0.3, "tts": 0.3}`); `chunk_delay_s`: delay between the
  streamed chat chunks (one per word).
- `fail`: `{"chat" | "stt" | "tts": status}` answers that route with that HTTP status.
- `requests`: every `RecordedRequest` (route, path, query, headers, body, json, form).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from tests.support.openai_wire import (
    ToolCallReply,
    chat_chunks,
    echo,
    usage_chunk,
    whole_completion,
)

Route = str  # "chat" | "stt" | "tts"
ChatReply = str | Callable[[list[dict[str, Any]]], str]
_OUTPUT_RATE = re.compile(r"^raw-(\d+)(k?)hz-16bit-mono-pcm$")
_VOICE = re.compile(r'<voice\s+name="([^"]+)"')
_TAG = re.compile(r"<[^>]+>")


@dataclass
class RecordedRequest:
    route: Route
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.time)  # when its body had arrived (wall clock)

    @property
    def ssml_voice(self) -> str | None:
        found = _VOICE.search(self.body.decode("utf-8", "replace"))
        return found.group(1) if found else None

    @property
    def ssml_text(self) -> str:
        return _TAG.sub("", self.body.decode("utf-8", "replace")).strip()


class FakeCloud:
    """OpenAI chat/STT and Azure TTS on one loopback port; see the module docstring."""

    def __init__(
        self,
        *,
        openai_key: str = "sk-test",
        azure_speech_key: str = "azure-test",
        latency_s: float = 0.0,
        chunk_delay_s: float = 0.0,
        chat_reply: ChatReply = echo,
        transcript: str = "hello",
        speech: str = "tone",
        port: int = 0,
    ) -> None:
        self.openai_key = openai_key
        self.azure_speech_key = azure_speech_key
        self.latency_s = latency_s
        self.latencies: dict[Route, float] = {}
        self._speech_cache: dict[tuple[str, int], bytes] = {}
        self.chunk_delay_s = chunk_delay_s
        self.chat_reply: ChatReply = chat_reply
        self.chat_script: list[str | ToolCallReply] = []
        self.transcript = transcript
        self.speech = speech
        self.fail: dict[Route, int] = {}
        self.requests: list[RecordedRequest] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port: int = self._sock.getsockname()[1]
        self._runner: web.AppRunner | None = None

    # --- addresses the providers are pointed at ---
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def azure_openai_endpoint(self) -> str:
        return self.url

    @property
    def azure_tts_endpoint(self) -> str:
        return f"{self.url}/cognitiveservices/v1"

    def requests_to(self, route: Route) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == route]

    # --- lifecycle ---
    async def start(self) -> None:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/openai/deployments/{deployment}/chat/completions", self._chat)
        app.router.add_post("/v1/audio/transcriptions", self._stt)
        app.router.add_post("/cognitiveservices/v1", self._tts)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeCloud:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @contextmanager
    def in_thread(self) -> Iterator[FakeCloud]:
        """Serve from a background thread with its own event loop (for sync callers)."""
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        thread = threading.Thread(target=serve, name="fake-cloud", daemon=True)
        thread.start()
        started.wait(10)
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)

    # --- handlers ---
    async def _record(self, route: Route, request: web.Request) -> RecordedRequest:
        body = await request.read()
        recorded = RecordedRequest(
            route=route,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
        )
        if request.content_type == "application/json":
            recorded.json = json.loads(body or b"null")
        elif request.content_type == "multipart/form-data":
            recorded.form = _multipart_fields(request, body)
        self.requests.append(recorded)
        return recorded

    def _openai_authorized(self, request: web.Request) -> bool:
        bearer = request.headers.get("Authorization", "")
        return bearer == f"Bearer {self.openai_key}" or (
            request.headers.get("api-key") == self.openai_key
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record("chat", request)
        if (error := self._openai_error("chat", request)) is not None:
            return error
        body = recorded.json or {}
        step = self.chat_script.pop(0) if self.chat_script else None
        if step is None:
            reply = self.chat_reply
            step = reply if isinstance(reply, str) else reply(body.get("messages", []))
        await asyncio.sleep(self.latency("chat"))
        chunks = chat_chunks(step, model=str(body.get("model", "fake")))
        if not body.get("stream"):
            return web.json_response(whole_completion(step, model=str(body.get("model", "fake"))))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i, chunk in enumerate(chunks):
            if i and self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = usage_chunk(body, step, model=str(body.get("model", "fake")))
            await response.write(f"data: {json.dumps(usage)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _stt(self, request: web.Request) -> web.Response:
        await self._record("stt", request)
        if (error := self._openai_error("stt", request)) is not None:
            return error
        await asyncio.sleep(self.latency("stt"))
        return web.json_response({"text": self.transcript})

    async def _tts(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record("tts", request)
        if request.headers.get("Ocp-Apim-Subscription-Key") != self.azure_speech_key:
            return web.Response(status=401)
        if status := self.fail.get("tts"):
            return web.Response(status=status)
        fmt = _OUTPUT_RATE.match(request.headers.get("X-Microsoft-OutputFormat", ""))
        if fmt is None:
            return web.Response(status=400, text="unsupported X-Microsoft-OutputFormat")
        rate = int(fmt.group(1)) * (1000 if fmt.group(2) else 1)
        await asyncio.sleep(self.latency("tts"))
        pcm = await asyncio.to_thread(self._speak, recorded.ssml_text, rate)
        response = web.StreamResponse(headers={"Content-Type": "audio/x-wav"})
        await response.prepare(request)
        for start in range(0, len(pcm), 4800):
            await response.write(pcm[start : start + 4800])
        await response.write_eof()
        return response

    def _openai_error(self, route: Route, request: web.Request) -> web.Response | None:
        if not self._openai_authorized(request):
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        if status := self.fail.get(route):
            return web.json_response(
                {"error": {"message": f"fake failure {status}", "type": "server_error"}},
                status=status,
            )
        return None

    def latency(self, route: Route) -> float:
        return self.latencies.get(route, self.latency_s)

    def prepare_speech(self, texts: list[str], rate: int = 24000) -> None:
        """Render these texts now, so answering them later costs no synthesis time."""
        for text in texts:
            self._speak(text, rate)

    def _speak(self, text: str, rate: int) -> bytes:
        key = (text, rate)
        if key not in self._speech_cache:
            render = _piper_pcm if self.speech == "piper" else _tone_pcm
            self._speech_cache[key] = render(text, rate)
        return self._speech_cache[key]


def _multipart_fields(request: web.Request, body: bytes) -> dict[str, str]:
    """Text fields of a multipart body (file parts are named, not decoded)."""
    match = re.search(r"boundary=([^;]+)", request.headers.get("Content-Type", ""))
    boundary = match.group(1).strip('"') if match else ""
    fields: dict[str, str] = {}
    for part in body.split(f"--{boundary}".encode()):
        head, _, value = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]+)"', head)
        if not name:
            continue
        key = name.group(1).decode()
        fields[key] = "<file>" if b"filename=" in head else value.rstrip(b"\r\n").decode()
    return fields


def _tone_pcm(text: str, rate: int) -> bytes:
    seconds = min(10.0, max(0.2, 0.06 * len(text)))
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.3 * np.sin(2 * math.pi * 440.0 * t)
    return (wave * 32767).astype(np.int16).tobytes()


def _piper_pcm(text: str, rate: int) -> bytes:
    from worker.providers.local_stt import resample_pcm16
    from worker.providers.local_tts import synthesize_pcm, voice_sample_rate

    pcm = synthesize_pcm(text, lead_silence=True)  # the fake's set time is to Piper's render
    native = voice_sample_rate()
    samples = np.frombuffer(pcm, dtype=np.int16)
    if rate != native:
        samples = resample_pcm16(samples, from_rate=native, to_rate=rate)
    return samples.tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve FakeCloud on 127.0.0.1 until killed.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before first byte")
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    parser.add_argument("--openai-key", default="sk-test")
    parser.add_argument("--azure-speech-key", default="azure-test")
    parser.add_argument("--reply", default=None, help="fixed chat reply (default: echo)")
    parser.add_argument("--transcript", default="hello")
    parser.add_argument("--speech", choices=["piper", "tone"], default="piper")
    args = parser.parse_args()
    fake = FakeCloud(
        openai_key=args.openai_key,
        azure_speech_key=args.azure_speech_key,
        latency_s=args.latency,
        chunk_delay_s=args.chunk_delay,
        chat_reply=args.reply or echo,
        transcript=args.transcript,
        speech=args.speech,
        port=args.port,
    )

    async def serve() -> None:
        async with fake:
            print(f"ready {fake.url}", flush=True)
            await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
