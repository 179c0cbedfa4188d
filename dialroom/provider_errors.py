"""Provider errors, counted for /metrics by provider and kind, as a call's session reports them.

livekit-agents emits an `error` event for every failed STT, LLM or TTS request, recoverable
(retried) or not (the call ends with the apology, `worker.apology`). A provider that fails now
and then costs callers seconds of silence long before it ends a call, so every one is counted,
labelled with the provider (`openai`, `azure`, ...), the kind (`stt`, `llm`, `tts`) and whether
it was recoverable. `watch` is attached to each call's session in the worker; the count goes to
Redis in the background, so a slow Redis never holds the call's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from dialroom.metrics import PROVIDER_ERRORS_KEY, count

logger = logging.getLogger("dialroom.provider_errors")

_pending: set[asyncio.Task[None]] = set()  # counts on their way (kept from the collector)


class Session(Protocol):
    def on(self, event: str, callback: Any = None) -> Any: ...


def labels(ev: Any) -> tuple[str, str, str]:
    """(provider, kind, recoverable) of a livekit `ErrorEvent`."""
    kind = str(getattr(ev.error, "type", "error")).removesuffix("_error")
    provider = getattr(ev.source, "provider", "") or type(ev.source).__name__
    recoverable = "true" if getattr(ev.error, "recoverable", False) else "false"
    return str(provider), kind, recoverable


async def record(redis: Redis, ev: Any) -> None:
    try:
        await count(redis, PROVIDER_ERRORS_KEY, labels(ev))
    except (RedisError, OSError) as err:
        logger.warning("provider error not counted: %s", err)


def watch(session: Session, redis: Redis) -> None:
    """Count every `error` event of `session`."""

    def on_error(ev: Any) -> None:
        task = asyncio.create_task(record(redis, ev), name="dialroom-provider-error")
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    session.on("error", on_error)
