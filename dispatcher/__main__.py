"""`python -m dispatcher`: check the settings (one line on a mistake), then dispatch until
SIGTERM or Ctrl-C. Stopping at any moment is safe: an unacknowledged call stays queued."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from pydantic import ValidationError
from redis.asyncio import Redis

from dialroom.settings import SettingsError, describe_validation_error
from dispatcher.service import Dispatcher
from dispatcher.settings import DispatcherSettings

logger = logging.getLogger("dialroom.dispatcher")


async def serve(settings: DispatcherSettings) -> None:
    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    dispatcher = Dispatcher(settings, redis=redis)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, dispatcher.stop)
    try:
        await dispatcher.run()
    except asyncio.CancelledError:
        logger.info("dispatcher stopped")
    finally:
        await redis.aclose()


def main() -> int:
    try:
        settings = DispatcherSettings()
        settings.require_livekit_keys()
    except ValidationError as err:
        print(f"error: bad setting: {describe_validation_error(err)}", file=sys.stderr)
        return 1
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
