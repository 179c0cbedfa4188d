"""What routes depend on: settings, Redis and the call history (opened by the lifespan), and
the caller's API key.

The key comes as `X-API-Key: <key>` or `Authorization: Bearer <key>`, is compared in constant
time against every configured key, and is never logged or stored: routes see only its
fingerprint, which scopes rate limits and idempotency keys. Failed authentications are
counted per client address; past AUTH_FAILURES_PER_MINUTE the address gets 429 (see
`api.rate_limit`).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from api.errors import api_error
from api.rate_limit import auth_blocked, count_auth_failure, retry_after
from api.settings import ApiSettings
from dialroom.history import HistoryStore

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


def get_history(request: Request) -> HistoryStore:
    history: HistoryStore = request.app.state.history
    return history


Settings = Annotated[ApiSettings, Depends(get_settings)]
RedisDep = Annotated[Redis, Depends(get_redis)]
History = Annotated[HistoryStore, Depends(get_history)]


def fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def known_key(offered: str, accepted: tuple[str, ...]) -> bool:
    """Constant-time comparison against every accepted key (no early exit on a match)."""
    matches = [hmac.compare_digest(offered.encode(), key.encode()) for key in accepted]
    return any(matches)


async def authenticated(
    request: Request,
    settings: Settings,
    redis: RedisDep,
    header_key: Annotated[str | None, Security(api_key_header)],
    bearer_key: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> str:
    client = request.client.host if request.client else "unknown"
    limit = settings.auth_failures_per_minute
    if (wait := await auth_blocked(redis, client, limit=limit)) is not None:
        msg = f"more than {limit} failed authentications per minute from this address"
        raise _too_many(msg, "auth_rate_limited", wait)
    offered = header_key or (bearer_key.credentials if bearer_key else None)
    if not offered:
        await count_auth_failure(redis, client)
        raise _unauthorized(
            "API key missing: send X-API-Key or Authorization: Bearer", "missing_api_key"
        )
    if not known_key(offered, settings.accepted_keys):
        await count_auth_failure(redis, client)
        raise _unauthorized("API key not recognised", "invalid_api_key")
    return fingerprint(offered)


async def rate_limited(
    settings: Settings, redis: RedisDep, key: Annotated[str, Depends(authenticated)]
) -> str:
    limit = settings.rate_limit_per_minute
    if (wait := await retry_after(redis, key, limit=limit)) is not None:
        raise _too_many(f"rate limit of {limit} requests per minute exceeded", "rate_limited", wait)
    return key


def _unauthorized(msg: str, kind: str) -> HTTPException:
    headers = {"WWW-Authenticate": "Bearer"}
    return api_error(401, ("header", "X-API-Key"), msg, kind, headers=headers)


def _too_many(msg: str, kind: str, wait: int) -> HTTPException:
    return api_error(429, ("header", "X-API-Key"), msg, kind, headers={"Retry-After": str(wait)})


# The caller's key fingerprint, once it is authenticated and within its rate limit.
ClientKey = Annotated[str, Depends(rate_limited)]
