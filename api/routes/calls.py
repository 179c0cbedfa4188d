"""Calls: place one, look one up (live or from the history), list and export them, cancel one
that has not been dialed, erase one."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import StreamingResponse

from api import call_export
from api.call_filters import CallQuery
from api.call_listing import CURSOR_PATTERN, list_calls
from api.deps import ClientKey, History, RedisDep, Settings
from api.destinations import Destinations
from api.errors import api_error, responses
from api.idempotency import idempotency_header
from api.models import CallAccepted, CallDetail, CallPage, OutboundCallBody
from api.routes.campaigns import allow_only
from api.routes.recordings import Recordings
from dialroom import campaigns, dial_queue, dnc
from dialroom.call_status import CallStatus, current_status, status_history
from dialroom.calls import load_call_record
from dialroom.history import ArchivedCall
from dialroom.history.live import erase, from_record, is_over
from dialroom.persona import available
from dialroom.recordings import key_for
from dialroom.redact import mask_number

logger = logging.getLogger("dialroom.api.calls")
router = APIRouter(prefix="/api", tags=["calls"], responses=responses(401, 413, 429))

CallId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{6,64}$", description="The call's id")]
IdempotencyKey = Annotated[
    str | None,
    idempotency_header(
        "A repeat with the same key returns the first call's id; nothing new is queued"
    ),
]


@router.post(
    "/outbound-call",
    response_model=CallAccepted,
    status_code=202,
    summary="Place an outbound call",
    responses=responses(400),
)
async def place_call(
    body: OutboundCallBody,
    key: ClientKey,
    redis: RedisDep,
    settings: Settings,
    destinations: Destinations,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CallAccepted:
    """Queue a call (or schedule it, with `schedule_at`); the dispatcher places it."""
    known = available(settings.agents_dir)
    if body.persona not in known:
        raise api_error(
            422,
            ("body", "persona"),
            f"unknown persona '{body.persona}'; valid personas: {', '.join(known) or 'none'}",
            "unknown_persona",
        )
    await destinations.check_call(body)
    if await dnc.is_listed(redis, body.to_number):
        msg = f"{body.to_number} is on the do-not-call list"
        raise api_error(422, ("body", "to_number"), msg, "do_not_call")
    accepted = await dial_queue.enqueue(
        redis, body, idempotency=(key, idempotency_key) if idempotency_key else None
    )
    if accepted.created:
        logger.info(
            "call accepted: call_id=%s persona=%s to=%s status=%s",
            accepted.call_id,
            body.persona,
            mask_number(body.to_number),
            accepted.status.value,
            extra={"call_id": accepted.call_id, "persona": body.persona},
        )
    else:
        response.headers["Idempotent-Replayed"] = "true"
    return CallAccepted(status=accepted.status, call_id=accepted.call_id)


@router.get("/calls", response_model=CallPage)
async def list_call_page(
    _key: ClientKey,
    redis: RedisDep,
    history: History,
    where: CallQuery,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the last page")
    ] = None,
) -> CallPage:
    """Every call: first those Redis holds (waiting, live, just ended; newest placed first),
    then the history (newest started first), filtered. `outcome`, `since` and `until` match
    finished calls only."""
    return await list_calls(redis, history, where, cursor=cursor, limit=limit)


@router.get(
    "/calls/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export_calls(
    _key: ClientKey,
    history: History,
    where: CallQuery,
    export_format: Annotated[
        call_export.Format, Query(alias="format", description="csv or jsonl")
    ] = "csv",
) -> StreamingResponse:
    """The finished calls of the history matching the filters, newest first: CSV (one row a
    call) or JSON Lines (each call whole: record, transcript, status history)."""
    return call_export.stream(history, where, export_format)


allow_only(router, "/calls/export", ("GET",))  # before `/calls/{call_id}` claims the path


@router.get("/calls/{call_id}", response_model=CallDetail, responses=responses(404))
async def get_call(
    call_id: CallId, _key: ClientKey, redis: RedisDep, history: History
) -> CallDetail:
    """Any call: a placed call from Redis while it holds it (status, attempts, history,
    request, record once ended), else the call from the history; an inbound call once ended."""
    if (live := await _live_detail(redis, call_id)) is not None:
        return live
    if (archived := await history.get(call_id)) is not None:
        return archived_detail(archived, archived=True)
    if (record := await load_call_record(redis, call_id)) is not None:
        return archived_detail(from_record(record), archived=False)
    raise _not_found(call_id)


@router.delete("/calls/{call_id}", status_code=204, responses=responses(404, 409))
async def delete_call(
    call_id: CallId, _key: ClientKey, redis: RedisDep, history: History, recordings: Recordings
) -> Response:
    """Erase a call everywhere (the history, every Redis key of it and its recording): the
    right to erasure. A call still waiting or live is refused with 409: cancel it or let it end."""
    status = await current_status(redis, call_id)
    if status is not None and not is_over(status, await dial_queue.load_request(redis, call_id)):
        raise api_error(
            409,
            ("path", "call_id"),
            f"call is {status.status.value}; cancel it or wait for its end, then delete it",
            "call_not_ended",
        )
    keys = await erase(redis, call_id)
    in_history = await history.delete(call_id)
    recorded = await recordings.delete(key_for(call_id))
    if not keys and not in_history and not recorded:
        raise _not_found(call_id)
    logger.info("call erased: call_id=%s", call_id, extra={"call_id": call_id})
    return Response(status_code=204)


allow_only(router, "/calls/{call_id}", ("GET", "DELETE"))


@router.post("/calls/{call_id}/cancel", response_model=CallAccepted, responses=responses(404, 409))
async def cancel_call(call_id: CallId, _key: ClientKey, redis: RedisDep) -> CallAccepted:
    """Cancel a queued or scheduled call; 409 once it is being dialed or has ended."""
    moved = await dial_queue.cancel(redis, call_id)
    if moved.before is None:
        raise _not_found(call_id)
    if not moved.moved:
        raise api_error(
            409,
            ("path", "call_id"),
            f"call is {moved.before.status.value}; only queued or scheduled calls can be canceled",
            "not_cancelable",
        )
    logger.info("call canceled: call_id=%s", call_id, extra={"call_id": call_id})
    return CallAccepted(status=CallStatus.CANCELED, call_id=call_id)


async def _live_detail(redis: RedisDep, call_id: str) -> CallDetail | None:
    status = await current_status(redis, call_id)
    request = await dial_queue.load_request(redis, call_id)
    if status is None or request is None:
        return None
    record = await load_call_record(redis, call_id)
    return CallDetail(
        call_id=call_id,
        persona=request.persona,
        status=status.status,
        outcome=record.outcome if record is not None and is_over(status, request) else None,
        attempts=status.attempts,
        max_attempts=request.max_attempts,
        sip_code=status.sip_code,
        detail=status.detail,
        updated_at=status.updated_at,
        history=await status_history(redis, call_id),
        request=request,
        record=record,
        campaign_id=(await campaigns.campaigns_of(redis, [call_id])).get(call_id),
    )


def archived_detail(call: ArchivedCall, *, archived: bool) -> CallDetail:
    return CallDetail(
        call_id=call.call_id,
        direction=call.direction,
        persona=call.persona,
        status=call.status,
        outcome=call.outcome,
        attempts=call.attempts,
        max_attempts=call.request.max_attempts if call.request else call.attempts,
        sip_code=call.sip_code,
        detail=call.detail,
        updated_at=call.ended_at,
        history=call.history,
        request=call.request,
        record=call.record,
        campaign_id=call.campaign_id,
        archived=archived,
    )


def _not_found(call_id: str) -> Exception:
    return api_error(404, ("path", "call_id"), f"no call with id {call_id}", "not_found")
