"""What the worker's forkserver imports once, so that a call process starts from a fork with
these modules already loaded (copy-on-write) instead of importing them for seconds while a
caller waits. livekit-agents adds its own plugins and warm-up to this list.

Never list the local speech engines (faster-whisper, piper): a call process must not carry
them; they live in the worker's inference process (`worker.providers.shared_speech`).
"""

from __future__ import annotations

PRELOADED: tuple[str, ...] = (
    "livekit.plugins.openai",  # cloud providers, imported by the first call that uses them
    "livekit.plugins.azure",
    # what the openai client imports lazily on a call's first request (its chat and audio
    # resources, hundreds of TypedDicts: 0.05 s of CPU alone, ~0.5 s at 8 calls on 2 cores)
    "openai.resources.chat.chat",  # (the packages' __init__ import nothing: name modules)
    "openai.resources.chat.completions.completions",
    "openai.resources.chat.completions.messages",
    "openai.resources.audio.audio",
    "openai.resources.audio.transcriptions",
    "openai.lib.streaming.chat",
    # imported on a call's loop at 12 calls, 0.2-0.8 s of blocked loop each (livekit's loop
    # monitor: "importing openai.resources.models", "importing numpy.ma.core")
    "openai.resources.models",
    "numpy.ma",
    "livekit.agents.voice.report",  # the session's report, made as every call closes
    "anyio._backends._asyncio",
    "jiter",
    # builds the cloud clients' TLS contexts once, here: each parses a CA bundle (~20 ms)
    "worker.providers.tls",
    "worker.providers.http_clients",
    "worker.transcript_warmup",  # the transcript synchronizer's hyphenator, built once
    # what a cloud persona's STT imports when its call builds it (`build_stt`)
    "worker.providers.shared_vad_stt",
    "worker.providers.interim_commit",
    # the worker itself, and through it every worker module a call runs (Redis, the session,
    # the flow LLMs, ...); with the command line's own imports, all that `worker.main` runs
    # again in each call process (see its docstring)
    "worker.server",
    "worker.providers.shared_speech",
)
