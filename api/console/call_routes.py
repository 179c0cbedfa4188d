"""The console's call pages: live calls, the calls list with its filters, one call.

They read through the same functions as the API (`api.call_listing.list_calls`, the calls
route's `get_call`), so the console shows exactly what `GET /api/calls` and `GET
/api/calls/{id}` answer; the filters are the API's own (`api.call_filters.CallQuery`).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.call_filters import CallQuery
from api.call_listing import CURSOR_PATTERN, list_calls
from api.console.call_view import call_page_context
from api.console.deliveries import deliveries
from api.console.pages import Viewer, render
from api.deps import History, RedisDep
from api.routes.calls import CallId, get_call
from dialroom.call_status import CallStatus
from dialroom.history import CallFilter
from dialroom.live_calls import live_calls

router = APIRouter()
ON_THE_WAY = (CallStatus.QUEUED, CallStatus.SCHEDULED, CallStatus.DIALING, CallStatus.RINGING)
LIVE_SCAN = 100  # placed calls the live page looks at
PAGE = 50


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/console/live", status_code=303)


@router.get("/live")
async def live(request: Request, viewer: Viewer, redis: RedisDep, history: History) -> Response:
    return render(request, "live.html", await _live(redis, history), viewer=viewer)


@router.get("/live/rows")
async def live_rows(
    request: Request, viewer: Viewer, redis: RedisDep, history: History
) -> Response:
    """What the live page refreshes every few seconds (htmx)."""
    return render(request, "_live_rows.html", await _live(redis, history), viewer=viewer)


async def _live(redis: RedisDep, history: History) -> dict[str, object]:
    """Calls in conversation now (inbound and outbound, as the workers marked them) and
    placed calls still on their way (queued, scheduled, dialing, ringing)."""
    talking = await live_calls(redis)
    page = await list_calls(redis, history, CallFilter(), cursor="", limit=LIVE_SCAN)
    on_the_way = [c for c in page.calls if c.outcome is None and c.status in ON_THE_WAY]
    return {"talking": sorted(talking, key=lambda c: c.answered_at), "placed": on_the_way}


def _without_empty_fields(request: Request) -> None:
    """The filter form sends its empty fields too: drop them (a redirect) before the API's
    own checks of the filters, which refuse an empty value."""
    if any(value == "" for value in request.query_params.values()):
        kept = [(k, v) for k, v in request.query_params.multi_items() if v != ""]
        target = request.url.path + ("?" + urlencode(kept) if kept else "")
        raise HTTPException(
            303, detail="the same filters, without empty fields", headers={"Location": target}
        )


@router.get("/calls", dependencies=[Depends(_without_empty_fields)])
async def calls(
    request: Request,
    viewer: Viewer,
    redis: RedisDep,
    history: History,
    where: CallQuery,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> Response:
    """The calls, filtered as `GET /api/calls`."""
    page = await list_calls(redis, history, where, cursor=cursor, limit=PAGE)
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    next_url = None
    if page.next_cursor is not None:
        next_url = request.url.path + "?" + urlencode([*query, ("cursor", page.next_cursor)])
    context = {
        "calls": page.calls,
        "next_url": next_url,
        "form": dict(request.query_params),
        "statuses": [s.value for s in CallStatus],
    }
    return render(request, "calls.html", context, viewer=viewer)


@router.get("/calls/{call_id}")
async def one_call(
    request: Request, call_id: CallId, viewer: Viewer, redis: RedisDep, history: History
) -> Response:
    try:
        detail = await get_call(call_id, viewer.key_fingerprint, redis, history)
    except HTTPException as err:
        if err.status_code != 404:
            raise
        context = {"title": "No such call", "message": f"No call has the id {call_id}."}
        return render(request, "error.html", context, viewer=viewer, status_code=404)
    context = {**call_page_context(detail), "webhooks": await deliveries(redis, call_id)}
    return render(request, "call.html", context, viewer=viewer)
