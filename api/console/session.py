"""The console's login session: a signed cookie, its CSRF token, and logout that sticks.

Logging in with an API key gives a cookie `dialroom_console` holding the key's fingerprint
(never the key), a random CSRF token, a session id and an expiry, signed with HMAC-SHA256.
The signing key is derived from the API keys the process accepts, so several API processes
with the same keys accept each other's sessions with nothing more to configure, and rotating
or removing the keys ends every session. A session is valid only while the key it was opened
with is still accepted. Logout records the session id in Redis until its expiry, so a copied
cookie is refused after logout too.

The cookie is HttpOnly, SameSite=Strict, limited to `/console`, and Secure when the console
is served over https. Every POST form carries the CSRF token (the login form a token of its
own, matched against a short-lived cookie), compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from fastapi import Request, Response
from redis.asyncio import Redis

from api.deps import fingerprint

COOKIE = "dialroom_console"
LOGIN_COOKIE = "dialroom_console_login"
PATH = "/console"
LIFETIME_S = 8 * 3600  # a working day; then log in again
LOGIN_FORM_S = 600  # how long a login form may stay open
ENDED_KEY = "dialroom:console:ended:{session_id}"


@dataclass(frozen=True)
class Session:
    key_fingerprint: str
    csrf: str
    session_id: str
    expires_at: float


def signing_key(accepted_keys: tuple[str, ...]) -> bytes:
    """Derived from every accepted API key: a changed key set ends every session."""
    material = "\0".join(sorted(accepted_keys)).encode()
    return hashlib.sha256(b"dialroom-console-session\0" + material).digest()


def new_session(api_key: str, *, now: float) -> Session:
    return Session(
        key_fingerprint=fingerprint(api_key),
        csrf=secrets.token_urlsafe(32),
        session_id=secrets.token_urlsafe(16),
        expires_at=now + LIFETIME_S,
    )


def encode(session: Session, key: bytes) -> str:
    payload = {
        "k": session.key_fingerprint,
        "c": session.csrf,
        "s": session.session_id,
        "e": session.expires_at,
    }
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_b64(_mac(key, body))}"


def decode(
    cookie: str, key: bytes, *, accepted_keys: tuple[str, ...], now: float
) -> Session | None:
    """The session when the cookie is ours, unexpired, and its key still accepted; else None."""
    body, _, mac = cookie.partition(".")
    if not mac or not hmac.compare_digest(mac, _b64(_mac(key, body))):
        return None
    try:
        payload = json.loads(_unb64(body))
        session = Session(
            key_fingerprint=str(payload["k"]),
            csrf=str(payload["c"]),
            session_id=str(payload["s"]),
            expires_at=float(payload["e"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if session.expires_at <= now:
        return None
    if session.key_fingerprint not in {fingerprint(k) for k in accepted_keys}:
        return None
    return session


async def read(request: Request, redis: Redis, accepted_keys: tuple[str, ...]) -> Session | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie or not accepted_keys:
        return None
    key = signing_key(accepted_keys)
    session = decode(cookie, key, accepted_keys=accepted_keys, now=time.time())
    if session is None or await redis.exists(ENDED_KEY.format(session_id=session.session_id)):
        return None
    return session


async def end(redis: Redis, session: Session) -> None:
    """Refuse this session from now until it would have expired anyway."""
    ttl = max(1, int(session.expires_at - time.time()) + 1)
    await redis.set(ENDED_KEY.format(session_id=session.session_id), "1", ex=ttl)


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(
        name, path=PATH, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


def same_token(offered: str | None, expected: str) -> bool:
    """Constant time; an empty expected token (no login cookie) matches nothing."""
    if not offered or not expected:
        return False
    return hmac.compare_digest(offered.encode(), expected.encode())


def _mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, body.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
