"""The do-not-call list: list it, add a number, take one off.

A listed number is refused for single calls (422 naming `to_number`), skipped in campaigns,
and not dialed by the dispatcher even when its call was queued before it was listed.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import ClientKey, RedisDep
from api.errors import ErrorBody, api_error, responses
from api.models import DoNotCallBody, DoNotCallPage
from api.routes.campaigns import allow_only
from dialroom import dnc
from dialroom.dnc import Listed
from dialroom.redact import mask_number

logger = logging.getLogger("dialroom.api.dnc")
router = APIRouter(prefix="/api/dnc", tags=["do-not-call"], responses=responses(401, 413, 429))

Number = Annotated[str, Path(pattern=r"^\+[1-9]\d{1,14}$", description="E.164 number")]


@router.get("", response_model=DoNotCallPage)
async def list_numbers(
    _key: ClientKey,
    redis: RedisDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DoNotCallPage:
    """Listed numbers, newest first, with when and why each was listed."""
    numbers, total = await dnc.page(redis, offset=offset, limit=limit)
    return DoNotCallPage(numbers=numbers, total=total)


@router.post(
    "",
    response_model=Listed,
    status_code=201,
    responses={
        200: {"model": Listed, "description": "Already listed: the first entry"},
        **responses(400),
    },
)
async def add_number(
    body: DoNotCallBody, _key: ClientKey, redis: RedisDep, response: Response
) -> Listed:
    """List a number: 201, or 200 with the existing entry when it was listed already."""
    source = f"api: {body.reason}" if body.reason else "api"
    entry, added = await dnc.add(redis, body.number, source=source)
    if added:
        logger.info("do-not-call: %s listed via the API", mask_number(body.number))
    else:
        response.status_code = 200
    return entry


allow_only(router, "", ("GET", "POST"))


@router.delete(
    "/{number}",
    status_code=204,
    responses={404: {"model": ErrorBody, "description": "The number is not listed"}},
)
async def remove_number(number: Number, _key: ClientKey, redis: RedisDep) -> Response:
    """Take a number off the list; it can be called again."""
    if not await dnc.remove(redis, number):
        raise api_error(404, ("path", "number"), f"{number} is not listed", "not_found")
    logger.info("do-not-call: %s taken off the list", mask_number(number))
    return Response(status_code=204)
