"""The recording player's source: `GET /api/calls/{id}/recording`, for a signed-in viewer.

An `<audio>` element cannot send an `X-API-Key` header, so the console serves the recording
at its own address, behind the session, through the API's own route function: the same file,
the same `Range` answers (206, `Content-Range`), so the player can seek and show the length.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from api.console.pages import Viewer
from api.deps import History, RedisDep
from api.routes.calls import CallId
from api.routes.recordings import get_recording, get_recordings

router = APIRouter()


@router.get("/calls/{call_id}/recording")
async def recording(
    request: Request,
    call_id: CallId,
    viewer: Viewer,
    redis: RedisDep,
    history: History,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> Response:
    store = get_recordings(request)
    return await get_recording(call_id, viewer.key_fingerprint, redis, history, store, range_header)
