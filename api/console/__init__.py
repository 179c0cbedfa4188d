"""The call console at `/console`: calls, personas, campaigns and latency in a browser.

Server-rendered pages (Jinja2) over the API's own functions, behind a login with an API key
(`api.console.session`). `router` is the one thing `api.main` includes; static files (htmx,
the stylesheet) are served by a route of their own, so the console needs no mount and no
Node build.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.console import (
    auth_routes,
    call_routes,
    campaign_routes,
    insight_routes,
    recording,
    static_routes,
    talk,
)

router = APIRouter(prefix="/console", include_in_schema=False)
parts = (auth_routes, call_routes, recording, campaign_routes, insight_routes, static_routes, talk)
for part in parts:
    router.include_router(part.router)

__all__ = ["router"]
