"""The Dialroom API: the app, its lifespan (opens Redis and the call history, migrating its
schema) and its routers.

`python -m api` reads and checks the settings, then serves `create_app(settings)`. What an
operator must know about the keys (development mode, a dev key refused) is logged at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from redis.asyncio import Redis
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import console
from api.body_limit import BodyLimitMiddleware
from api.destinations import CallerIds, DestinationGate
from api.errors import plain_http_error
from api.query import single_valued_query
from api.routes import callers, calls, campaigns, dnc, health, metrics, recordings, stats, talk
from api.settings import ApiSettings
from dialroom.history import open_history

logger = logging.getLogger("dialroom.api")


def create_app(settings: ApiSettings) -> FastAPI:
    settings.require_api_keys()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for note in settings.start_up_notes():
            logger.warning(note)
        app.state.history = await open_history(settings.history_url)
        app.state.redis = Redis.from_url(settings.redis_url, decode_responses=True)
        try:
            yield
        finally:
            await app.state.redis.aclose()
            await app.state.history.close()

    app = FastAPI(
        title="Dialroom",
        version="0.1.0",
        description="Outbound AI voice calls on your own phone lines.",
        lifespan=lifespan,
        dependencies=[Depends(single_valued_query)],
    )
    app.state.settings = settings
    app.state.destinations = DestinationGate(settings, CallerIds(settings))
    app.add_exception_handler(StarletteHTTPException, plain_http_error)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(calls.router)
    app.include_router(recordings.router)
    app.include_router(campaigns.router)
    app.include_router(dnc.router)
    app.include_router(callers.router)
    app.include_router(metrics.router)
    app.include_router(stats.router)
    app.include_router(talk.router)
    app.include_router(console.router)
    return app
