"""A call's recording: `GET /api/calls/{id}/recording` streams the stereo Ogg/Opus file
(caller left, agent right) with byte ranges, so a player can seek and show its length.

A file in RECORDINGS_DIR is served by Starlette's `FileResponse`, which answers `Range`
itself; an object in S3 is read through the API, one range at a time (the client needs no
access to the bucket, and the bucket needs no public URL).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from api.deps import ClientKey, History, RedisDep, get_settings
from api.errors import ErrorBody, api_error, responses
from dialroom.calls import load_call_record
from dialroom.recordings import (
    MEDIA_TYPE,
    LocalRecordings,
    RecordingRef,
    S3Recordings,
    open_recordings,
)

router = APIRouter(prefix="/api", tags=["calls"], responses=responses(401, 429))

CallId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{6,64}$", description="The call's id")]
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def get_recordings(request: Request) -> LocalRecordings | S3Recordings:
    """The store RECORDINGS_URL / RECORDINGS_DIR name, opened once per app."""
    store = getattr(request.app.state, "recordings", None)
    if store is None:
        store = request.app.state.recordings = open_recordings(get_settings(request))
    return store


Recordings = Annotated[LocalRecordings | S3Recordings, Depends(get_recordings)]


@router.get(
    "/calls/{call_id}/recording",
    response_class=Response,
    responses={
        **responses(404),
        416: {"model": ErrorBody, "description": "The range is outside the recording"},
        200: {"content": {MEDIA_TYPE: {}}, "description": "The whole recording"},
        206: {"content": {MEDIA_TYPE: {}}, "description": "The byte range asked for"},
    },
)
async def get_recording(
    call_id: CallId,
    _key: ClientKey,
    redis: RedisDep,
    history: History,
    store: Recordings,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
) -> Response:
    """The call's recording as stereo Ogg/Opus (left: caller, right: agent). Send `Range:
    bytes=START-END` for part of it (206 with `Content-Range`)."""
    ref = await recording_of(call_id, redis, history)
    if ref is None:
        raise _no_recording(call_id)
    if isinstance(store, LocalRecordings):
        path = store.path(ref.key)
        if not path.is_file():
            raise _no_recording(call_id)
        return FileResponse(path, media_type=MEDIA_TYPE)
    size = await store.size(ref.key)
    if size is None:
        raise _no_recording(call_id)
    start, end = _byte_range(range_header, size)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(end - start + 1)}
    if range_header is None:
        return StreamingResponse(store.read(ref.key, start, end), 200, headers, MEDIA_TYPE)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(store.read(ref.key, start, end), 206, headers, MEDIA_TYPE)


async def recording_of(call_id: str, redis: RedisDep, history: History) -> RecordingRef | None:
    """The recording the call's record names: from the history, else the record Redis holds."""
    archived = await history.get(call_id)
    record = archived.record if archived is not None else await load_call_record(redis, call_id)
    return record.recording if record is not None else None


def _byte_range(header: str | None, size: int) -> tuple[int, int]:
    """First and last byte (inclusive) of one `bytes=` range; the whole file without one."""
    if header is None:
        return 0, size - 1
    match = _RANGE.match(header.strip())
    if match is None or match.groups() == ("", ""):
        raise _unsatisfiable(size, "one range, as bytes=START-END, bytes=START- or bytes=-LAST")
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start > end or start >= size:
        raise _unsatisfiable(size, f"the recording has {size} bytes")
    return start, end


def _unsatisfiable(size: int, why: str) -> Exception:
    headers = {"Content-Range": f"bytes */{size}"}
    msg = f"range not satisfiable: {why}"
    return api_error(416, ("header", "Range"), msg, "bad_range", headers=headers)


def _no_recording(call_id: str) -> Exception:
    return api_error(
        404, ("path", "call_id"), f"no recording of a call with id {call_id}", "not_found"
    )
