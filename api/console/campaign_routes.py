"""The console's campaigns page: each campaign's progress, and pause / resume / cancel.

The buttons are plain forms (POST, CSRF token, then back to the page), so they work without
script and from the keyboard; they run the campaigns API's own route functions, so a state
that does not allow the move is refused exactly as the API refuses it (409).
"""

from __future__ import annotations

import time
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from api.console.pages import Form, Viewer, render
from api.deps import RedisDep
from api.routes import campaigns as campaign_routes
from api.routes.campaigns import CampaignId
from dialroom import campaigns
from dialroom.call_status import FINAL

router = APIRouter()
SHOWN = 50
Action = Literal["pause", "resume", "cancel"]
NOTES = {
    "pause": "Campaign paused.",
    "resume": "Campaign resumed.",
    "cancel": "Campaign canceled.",
    "refused": "That campaign's state does not allow it (it changed meanwhile?).",
    "missing": "No such campaign.",
}
MOVES = {
    "pause": campaign_routes.pause_campaign,
    "resume": campaign_routes.resume_campaign,
    "cancel": campaign_routes.cancel_campaign,
}


@router.get("/campaigns")
async def campaign_list(
    request: Request, viewer: Viewer, redis: RedisDep, note: str | None = None
) -> Response:
    """Not refreshed by itself: a refresh would take the keyboard focus off its buttons."""
    context = {**await _rows(redis), "note": NOTES.get(note or ""), "now": time.time()}
    return render(request, "campaigns.html", context, viewer=viewer)


@router.post("/campaigns/{campaign_id}/{action}")
async def move(
    campaign_id: CampaignId, action: Action, viewer: Viewer, _form: Form, redis: RedisDep
) -> Response:
    try:
        await MOVES[action](campaign_id, viewer.key_fingerprint, redis)
        note = action
    except HTTPException as err:
        if err.status_code not in (404, 409):
            raise
        note = "missing" if err.status_code == 404 else "refused"
    return RedirectResponse(f"/console/campaigns?note={note}", status_code=303)


async def _rows(redis: RedisDep) -> dict[str, object]:
    found = await campaigns.page(redis, before=None, count=SHOWN)
    rows = []
    for campaign, _ in found:
        counts = await campaigns.progress(redis, campaign)
        total = max(1, counts.get("total", campaign.total))
        done = sum(counts.get(status.value, 0) for status in FINAL)
        rows.append(
            {
                "campaign": campaign,
                "counts": counts,
                "done": done,
                "done_pct": round(100 * done / total),
            }
        )
    return {"campaigns": rows}
