"""Logging in to the console with an API key, and out.

The key is checked exactly as the API checks `X-API-Key` (constant time, every accepted key)
and failed tries count against the client address like the API's own (`api.rate_limit`): the
login form is no easier to guess keys through than the API. The key never comes back in a
page or a cookie.
"""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.console import session as sessions
from api.console.pages import Form, Viewer, read_form, render
from api.deps import RedisDep, Settings, known_key
from api.rate_limit import auth_blocked, count_auth_failure

router = APIRouter()
HOME = "/console/calls"


@router.get("/login")
async def login_form(request: Request, settings: Settings, redis: RedisDep) -> Response:
    if await sessions.read(request, redis, settings.accepted_keys) is not None:
        return RedirectResponse(HOME, status_code=303)
    return _form(request, message=None, status_code=200)


@router.post("/login")
async def log_in(request: Request, settings: Settings, redis: RedisDep) -> Response:
    form = await read_form(request)
    if not sessions.same_token(form.get("csrf"), request.cookies.get(sessions.LOGIN_COOKIE, "")):
        return _form(request, message="The form expired: try again.", status_code=403)
    client = request.client.host if request.client else "unknown"
    limit = settings.auth_failures_per_minute
    if await auth_blocked(redis, client, limit=limit) is not None:
        message = "Too many failed logins from this address: wait a minute."
        return _form(request, message=message, status_code=429)
    offered = form.get("api_key", "").strip()
    if not offered or not known_key(offered, settings.accepted_keys):
        await count_auth_failure(redis, client)
        return _form(request, message="That API key is not recognised.", status_code=401)
    session = sessions.new_session(offered, now=time.time())
    response = RedirectResponse(HOME, status_code=303)
    key = sessions.signing_key(settings.accepted_keys)
    cookie = sessions.encode(session, key)
    sessions.set_cookie(response, request, sessions.COOKIE, cookie, sessions.LIFETIME_S)
    sessions.clear_cookie(response, request, sessions.LOGIN_COOKIE)
    return response


@router.post("/logout")
async def log_out(request: Request, viewer: Viewer, _form: Form, redis: RedisDep) -> Response:
    await sessions.end(redis, viewer)
    response = RedirectResponse(sessions.PATH + "/login", status_code=303)
    sessions.clear_cookie(response, request, sessions.COOKIE)
    return response


def _form(request: Request, *, message: str | None, status_code: int) -> Response:
    """The login page with a fresh form token, also set as a short-lived cookie: a form
    posted from another site has neither."""
    token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", {"message": message, "login_token": token}, status_code=status_code
    )
    sessions.set_cookie(response, request, sessions.LOGIN_COOKIE, token, sessions.LOGIN_FORM_S)
    return response
