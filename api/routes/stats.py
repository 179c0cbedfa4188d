"""`GET /api/stats`: how calls ended and how fast the agents answered, per hour or per day."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query

from api.call_filters import CallQuery
from api.deps import ClientKey, History
from api.errors import responses
from dialroom.history.call import Bucket, Stats

router = APIRouter(prefix="/api", tags=["stats"], responses=responses(401, 429))

DEFAULT_SPAN_S = {"hour": 86400.0, "day": 30 * 86400.0}  # without `since`: a day, or 30 days


@router.get("/stats", response_model=Stats)
async def call_stats(
    _key: ClientKey,
    history: History,
    where: CallQuery,
    bucket: Annotated[Bucket, Query(description="hour or day (UTC)")] = "hour",
) -> Stats:
    """Finished calls counted by outcome, and the agents' voice-to-voice time (the caller's
    end of speech to the agent's first audio) as p50 / p95 per persona and per SIP trunk, per
    hour or per day.
    Filters as `GET /api/calls`; without `since`, the last day (hour) or 30 days (day)."""
    if where.since is None:
        where = where.model_copy(update={"since": time.time() - DEFAULT_SPAN_S[bucket]})
    return await history.stats(where, bucket=bucket)
