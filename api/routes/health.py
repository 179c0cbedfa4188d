"""Liveness (the process is up) and readiness (Redis and LiveKit answer)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from livekit import api as livekit
from pydantic import BaseModel
from redis.exceptions import RedisError

from api.deps import RedisDep, Settings

logger = logging.getLogger("dialroom.api.health")
router = APIRouter(prefix="/health", tags=["health"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str  # "ok" or "unavailable"
    redis: str
    livekit: str


@router.get("", response_model=Health)
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Redis or LiveKit does not answer"}},
)
async def ready(settings: Settings, redis: RedisDep) -> Readiness | JSONResponse:
    """Redis answers PING and livekit-server answers ListRooms, each within a short timeout."""
    redis_state, livekit_state = await asyncio.gather(
        _redis_state(redis, settings.ready_timeout_s), _livekit_state(settings)
    )
    ok = redis_state == "ok" and livekit_state == "ok"
    body = Readiness(status="ok" if ok else "unavailable", redis=redis_state, livekit=livekit_state)
    if ok:
        return body
    return JSONResponse(body.model_dump(), status_code=503)


async def _redis_state(redis: RedisDep, timeout_s: float) -> str:
    try:
        async with asyncio.timeout(timeout_s):
            await redis.ping()
    except (RedisError, OSError, TimeoutError) as err:
        return f"error: {type(err).__name__}"
    return "ok"


async def _livekit_state(settings: Settings) -> str:
    try:
        async with (
            asyncio.timeout(settings.ready_timeout_s),
            livekit.LiveKitAPI(
                url=settings.livekit_url,
                api_key=settings.livekit_api_key,
                api_secret=settings.livekit_api_secret,
                timeout=aiohttp.ClientTimeout(total=settings.ready_timeout_s),
            ) as lk,
        ):
            await lk.room.list_rooms(livekit.ListRoomsRequest(names=["dialroom-ready-probe"]))
    except (livekit.TwirpError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
        return f"error: {type(err).__name__}"
    return "ok"
