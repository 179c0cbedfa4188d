"""What routes depend on: settings, Redis (opened by the lifespan), and the caller's API key.

The key comes as `X-API-Key: <key>` or `Authorization: Bearer <key>`, is compared in constant
time against every configured key, and is never logged or stored: routes see only its
fingerprint, which scopes rate limits and idempotency keys.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from api.errors import api_error
from api.rate_limit import retry_after
from api.settings import ApiSettings

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


Settings = Annotated[ApiSettings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def known_key(offered: str, accepted: tuple[str, ...]) -> bool:
    """Constant-time comparison against every accepted key (no early exit on a match)."""
    matches = [hmac.compare_digest(offered.encode(), key.encode()) for key in accepted]
    return any(matches)


async def authenticated(
    settings: Settings,
    header_key: Annotated[str | None, Security(api_key_header)],
    bearer_key: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> str:
    offered = header_key or (bearer_key.credentials if bearer_key else None)
    if not offered:
        raise api_error(
            401,
            ("header", "X-API-Key"),
            "API key missing: send X-API-Key or Authorization: Bearer",
            "missing_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not known_key(offered, settings.accepted_keys):
        raise api_error(
            401,
            ("header", "X-API-Key"),
            "API key not recognised",
            "invalid_api_key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return fingerprint(offered)


async def rate_limited(
    settings: Settings, redis: RedisDep, key: Annotated[str, Depends(authenticated)]
) -> str:
    wait = await retry_after(redis, key, limit=settings.rate_limit_per_minute)
    if wait is not None:
        raise api_error(
            429,
            ("header", "X-API-Key"),
            f"rate limit of {settings.rate_limit_per_minute} requests per minute exceeded",
            "rate_limited",
            headers={"Retry-After": str(wait)},
        )
    return key


# The caller's key fingerprint, once it is authenticated and within its rate limit.
ClientKey = Annotated[str, Depends(rate_limited)]
