"""The console's personas and latency pages.

Personas: what `start.py personas check` says, read from AGENTS_DIR now: each persona valid
(its numbers and providers) or broken (its file, the field, the problem). Only provider names
and models are shown: endpoints and tool secrets stay off the page.

Latency: voice-to-voice p50 / p95 per persona over time, from the same numbers as
`GET /api/stats`, drawn as an inline SVG chart (`api.console.chart`), and per SIP trunk as a
table.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.call_filters import Name
from api.console.chart import latency_chart
from api.console.pages import Viewer, render
from api.deps import History, Settings
from dialroom.history import CallFilter
from dialroom.history.call import Bucket
from dialroom.history.stats import SECONDS, bucket_start
from dialroom.persona import check_all

router = APIRouter()
SPANS = {"hour": 2 * 86400.0, "day": 30 * 86400.0}  # two days of hours, a month of days


@router.get("/personas")
async def personas(request: Request, viewer: Viewer, settings: Settings) -> Response:
    good, broken = check_all(agents_dir=settings.agents_dir, prompts_dir=settings.prompts_dir)
    rows = [
        {
            "name": p.name,
            "numbers": list(p.numbers),
            "stt": p.stt.provider,
            "llm": p.llm.provider + (f" ({p.llm.model})" if p.llm.model else ""),
            "tts": p.tts.provider,
        }
        for p in good
    ]
    problems = [
        {"file": err.path.name, "field": err.field or "-", "problem": err.problem} for err in broken
    ]
    context = {"personas": rows, "broken": problems}
    return render(request, "personas.html", context, viewer=viewer)


@router.get("/latency")
async def latency(
    request: Request,
    viewer: Viewer,
    history: History,
    bucket: Annotated[Bucket, Query()] = "hour",
    persona: Name = None,
) -> Response:
    now = time.time()
    where = CallFilter(persona=persona or None, since=now - SPANS[bucket])
    stats = await history.stats(where, bucket=bucket)
    span = (bucket_start(now - SPANS[bucket], bucket), bucket_start(now, bucket))
    context = {
        "chart": latency_chart(stats.voice_to_voice, bucket_s=SECONDS[bucket], span=span),
        "rows": sorted(stats.voice_to_voice, key=lambda s: (s.persona, s.start)),
        "trunk_rows": sorted(stats.voice_to_voice_by_trunk, key=lambda s: (s.trunk, s.start)),
        "bucket": bucket,
        "persona": persona or "",
    }
    return render(request, "latency.html", context, viewer=viewer)
