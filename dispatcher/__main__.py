"""`python -m dispatcher`: check the settings (one line on a mistake), then dispatch until
SIGTERM or Ctrl-C. Stopping at any moment is safe: an unacknowledged call stays queued."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from redis.asyncio import BlockingConnectionPool, Redis

from dialroom.history import open_history
from dialroom.recordings import open_recordings
from dialroom.settings import configure_logging, settings_or_exit
from dispatcher.archive import Archiver
from dispatcher.call_events import CallEventSource
from dispatcher.service import Dispatcher
from dispatcher.settings import DispatcherSettings

logger = logging.getLogger("dialroom.dispatcher")


async def serve(settings: DispatcherSettings) -> None:
    history = await open_history(settings.history_url)  # and its schema migrated to head
    # Blocking: a burst of webhook deliveries waits for a free connection instead of failing.
    redis = Redis.from_pool(
        BlockingConnectionPool.from_url(settings.redis_url, decode_responses=True)
    )
    archiver: Archiver | None = Archiver(
        redis,
        history,
        record_ttl_s=settings.call_record_ttl_s,
        retention_days=settings.retention_days,
        recordings=open_recordings(settings),
        on_archived=CallEventSource(redis, url=settings.webhook_url).on_archived,
    )
    if not settings.history_archive:  # HISTORY_ARCHIVE=false: only to measure its cost
        logger.warning("HISTORY_ARCHIVE=false: finished calls stay in Redis, none is archived")
        archiver = None
    dispatcher = Dispatcher(settings, redis=redis, archiver=archiver)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, dispatcher.stop)
    try:
        await dispatcher.run()
    except asyncio.CancelledError:
        logger.info("dispatcher stopped")
    finally:
        await redis.aclose()
        await history.close()


def main() -> int:
    settings = settings_or_exit(DispatcherSettings)
    settings_or_exit(settings.require_livekit_keys)
    configure_logging()
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
