"""Outbound calls: place one, look one up, list them, cancel one that has not been dialed."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import ClientKey, RedisDep, Settings
from api.destinations import Destinations
from api.errors import api_error, responses
from api.idempotency import idempotency_header
from api.models import CallAccepted, CallDetail, CallPage, CallSummary, OutboundCallBody
from dialroom import campaigns, dial_queue, dnc
from dialroom.call_status import CallStatus, CurrentStatus, current_status, status_history
from dialroom.calls import load_call_record
from dialroom.dial import DialRequest
from dialroom.persona import available
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
MAX_SCAN = 1000  # calls one listing request looks at, at most, to fill a filtered page


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


@router.get("/calls/{call_id}", response_model=CallDetail, responses=responses(404))
async def get_call(call_id: CallId, _key: ClientKey, redis: RedisDep) -> CallDetail:
    """A call's status, attempts, SIP code, status history, request and (once ended) record."""
    status = await current_status(redis, call_id)
    request = await dial_queue.load_request(redis, call_id)
    if status is None or request is None:
        raise _not_found(call_id)
    return CallDetail(
        call_id=call_id,
        status=status.status,
        attempts=status.attempts,
        max_attempts=request.max_attempts,
        sip_code=status.sip_code,
        detail=status.detail,
        updated_at=status.updated_at,
        history=await status_history(redis, call_id),
        request=request,
        record=await load_call_record(redis, call_id),
        campaign_id=(await campaigns.campaigns_of(redis, [call_id])).get(call_id),
    )


@router.get("/calls", response_model=CallPage)
async def list_calls(
    _key: ClientKey,
    redis: RedisDep,
    status: CallStatus | None = None,
    persona: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(pattern=r"^\d{1,18}$", description="`next_cursor` of the last page")
    ] = None,
) -> CallPage:
    """Calls placed through the API, newest first, filtered by status and persona."""
    found: list[CallSummary] = []
    before = int(cursor) if cursor is not None else None
    scanned = 0
    while len(found) < limit and scanned < MAX_SCAN:
        page = await dial_queue.call_page(redis, before=before, count=limit)
        if not page:
            return CallPage(calls=await _with_campaigns(redis, found), next_cursor=None)
        scanned += len(page)
        sequence = dict(page)
        for call_id, now, request in await dial_queue.load_calls(redis, [c for c, _ in page]):
            if (status is None or now.status == status) and persona in (None, request.persona):
                found.append(_summary(call_id, now, request))
                before = sequence[call_id]
                if len(found) == limit:
                    break
        else:
            before = page[-1][1]
    next_cursor = str(before) if before is not None else None
    return CallPage(calls=await _with_campaigns(redis, found), next_cursor=next_cursor)


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


def _summary(call_id: str, now: CurrentStatus, request: DialRequest) -> CallSummary:
    return CallSummary(
        call_id=call_id,
        status=now.status,
        attempts=now.attempts,
        persona=request.persona,
        to_number=request.to_number,
        updated_at=now.updated_at,
    )


async def _with_campaigns(redis: RedisDep, found: list[CallSummary]) -> list[CallSummary]:
    """Each summary with the campaign its call belongs to, if any."""
    owners = await campaigns.campaigns_of(redis, [c.call_id for c in found])
    return [c.model_copy(update={"campaign_id": owners.get(c.call_id)}) for c in found]


def _not_found(call_id: str) -> Exception:
    return api_error(404, ("path", "call_id"), f"no call with id {call_id}", "not_found")
