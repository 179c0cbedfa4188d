"""Callers: what the history remembers of a number's earlier calls (persona `memory:`), and
erasing it. A note also goes when its call is erased (`DELETE /api/calls/{call_id}`)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel

from api.deps import ClientKey, History
from api.errors import ErrorBody, api_error, responses
from api.routes.campaigns import allow_only
from dialroom.history import memory
from dialroom.history.memory import CallerNote
from dialroom.redact import mask_number

logger = logging.getLogger("dialroom.api.callers")
router = APIRouter(prefix="/api/callers", tags=["callers"], responses=responses(401, 413, 429))

Number = Annotated[
    str,
    Path(
        pattern=r"^\+?[0-9A-Za-z._-]{1,32}$",
        description="The caller's number as the call had it (E.164, or a SIP user)",
    ),
]


class CallerMemory(BaseModel):
    number: str
    notes: list[CallerNote]  # newest first; what the next call reads as {caller_memory}


@router.get("/{number}/memory", response_model=CallerMemory)
async def get_memory(number: Number, _key: ClientKey, history: History) -> CallerMemory:
    """The unexpired notes kept on a number, newest first (the next call reads the latest)."""
    notes = await memory.recall(history.engine, number, limit=100)
    return CallerMemory(number=number, notes=notes)


@router.delete(
    "/{number}/memory",
    status_code=204,
    responses={404: {"model": ErrorBody, "description": "Nothing is remembered of the number"}},
)
async def erase_memory(number: Number, _key: ClientKey, history: History) -> Response:
    """Erase every note on a number: its next call starts with no memory of the earlier ones.
    The calls themselves stay in the history (erase those with `DELETE /api/calls/{id}`)."""
    if not await memory.forget_number(history.engine, number):
        raise api_error(404, ("path", "number"), f"nothing is remembered of {number}", "not_found")
    logger.info("caller memory erased: %s", mask_number(number))
    return Response(status_code=204)


allow_only(router, "/{number}/memory", ("GET", "DELETE"))
