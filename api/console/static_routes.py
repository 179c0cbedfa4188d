"""The console's static files: a fixed list served from `static/`, nothing else.

A route rather than a `StaticFiles` mount, so that `api.main` includes the console with one
line; the list keeps any other file of the package (or a path with `..`) out of reach.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.console.pages import STATIC

router = APIRouter()
FILES = {"htmx.min.js": "text/javascript", "console.css": "text/css"}
StaticName = Literal["htmx.min.js", "console.css"]


@router.get("/static/{name}")
async def static_file(name: StaticName) -> FileResponse:
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return FileResponse(STATIC / name, media_type=FILES[name], headers=headers)
