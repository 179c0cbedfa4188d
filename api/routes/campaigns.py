"""Campaigns: create one from JSON or CSV, follow its progress, pause, resume or cancel it.

`POST /api/campaigns` takes either body, by `Content-Type`:
- `application/json`: `CampaignBody` (settings and `callees: [{to_number, caller_name,
  variables}]`);
- `text/csv`: the rows (header `to_number,caller_name,<variable columns>`), with the settings
  as query parameters (`?persona=demo&concurrency=2&days=mon,tue&start=09:00&end=17:00`).
Both end in the same model, so a bad row is the same 422 either way:
`loc: ["body", "callees", 3, "to_number"]` (rows count from 0, header and blank lines left out).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.deps import ClientKey, RedisDep, Settings
from api.destinations import Destinations
from api.errors import ErrorBody, api_error, responses
from api.idempotency import idempotency_header
from api.models import CampaignBody, CampaignCreated, CampaignDetail, CampaignPage, CsvSettings
from dialroom import campaign_intake, campaigns
from dialroom.campaigns import Campaign, CampaignState
from dialroom.persona import available

logger = logging.getLogger("dialroom.api.campaigns")
router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], responses=responses(401, 413, 429))

IdempotencyKey = Annotated[
    str | None,
    idempotency_header(
        "A repeat with the same key and body returns the first campaign; with another body, 422"
    ),
]
CampaignId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="The campaign's id")]
CSV_ONLY = "only with a text/csv body (a JSON body carries its settings itself)"
FIXED_COLUMNS = ("to_number", "caller_name")
NOT_FOUND = {404: {"model": ErrorBody, "description": "No such campaign"}}
CONFLICT = {409: {"model": ErrorBody, "description": "The campaign's state does not allow it"}}
UNSUPPORTED = {415: {"model": ErrorBody, "description": "Neither application/json nor text/csv"}}


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` written in place (openapi_extra has no
    components of its own)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return walk(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return node

    return dict(walk(schema))


CREATE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline(CampaignBody.model_json_schema())},
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "Header `to_number,caller_name,<variables>`, then one row "
                    "per callee; the settings go in the query parameters",
                }
            },
        },
    }
}


@router.post(
    "",
    response_model=CampaignCreated,
    status_code=201,
    summary="Create a campaign (JSON or CSV)",
    openapi_extra=CREATE_BODY,
    responses={**responses(400), **UNSUPPORTED},
)
async def create_campaign(
    request: Request,
    key: ClientKey,
    redis: RedisDep,
    settings: Settings,
    destinations: Destinations,
    csv_settings: Annotated[CsvSettings, Query()],
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CampaignCreated:
    """Queue one call per row (rows on the do-not-call list, and rows repeating an earlier
    row's number, are skipped and counted); the dispatcher releases them `concurrency` at a
    time, inside `calling_hours`. A repeat with the same `Idempotency-Key` and body returns
    the first campaign (`Idempotent-Replayed: true`); with another body, `422`."""
    given = csv_settings.model_dump(exclude_none=True)
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    text = await _text_body(request)
    if media == "text/csv":
        body = _from_csv(text, given)
        persona_loc: tuple[str, ...] = ("query", "persona")
    elif media == "application/json" or media.endswith("+json"):
        if given:
            raise api_error(422, ("query", next(iter(given))), CSV_ONLY, "csv_only")
        body = _validated(lambda: CampaignBody.model_validate_json(text), _body_loc)
        persona_loc = ("body", "persona")
    else:
        msg = f"Content-Type {media} not supported: send application/json or text/csv"
        raise api_error(415, ("header", "Content-Type"), msg, "unsupported_media_type")
    known = available(settings.agents_dir)
    if body.persona not in known:
        msg = f"unknown persona '{body.persona}'; valid personas: {', '.join(known) or 'none'}"
        raise api_error(422, persona_loc, msg, "unknown_persona")
    await destinations.check_campaign(body, from_loc=(persona_loc[0], "from_number"))
    idempotency = (key, idempotency_key) if idempotency_key else None
    campaign = await _create(redis, body, idempotency, response)
    counts = await campaigns.progress(redis, campaign)
    return CampaignCreated(campaign_id=campaign.campaign_id, state=campaign.state, counts=counts)


async def _create(
    redis: RedisDep, body: CampaignBody, idempotency: tuple[str, str] | None, response: Response
) -> Campaign:
    try:
        created = await campaign_intake.create(redis, body, idempotency=idempotency)
    except campaign_intake.IdempotencyConflict as err:
        loc = ("header", "Idempotency-Key")
        raise api_error(422, loc, str(err), "idempotency_key_reused") from err
    campaign = created.campaign
    if not created.created:
        response.headers["Idempotent-Replayed"] = "true"
        return campaign
    logger.info(
        "campaign created: campaign_id=%s persona=%s rows=%d do_not_call=%d duplicates=%d",
        campaign.campaign_id,
        campaign.persona,
        campaign.total,
        campaign.do_not_call,
        campaign.duplicates,
    )
    return campaign


@router.get("", response_model=CampaignPage)
async def list_campaigns(
    _key: ClientKey,
    redis: RedisDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(pattern=r"^\d{1,18}$", description="`next_cursor` of the last page")
    ] = None,
) -> CampaignPage:
    """Campaigns, newest first."""
    found = await campaigns.page(redis, before=int(cursor) if cursor else None, count=limit)
    last = str(found[-1][1]) if len(found) == limit else None
    return CampaignPage(campaigns=[campaign for campaign, _ in found], next_cursor=last)


def allow_only(router: APIRouter, path: str, methods: tuple[str, ...]) -> None:
    """Answer every other method on `path` with 405 and an `Allow` naming all of `methods`.

    Starlette's own 405 names only the methods of the first route on the path, so a path with
    both a GET and a POST route would claim to allow just one of them.
    """
    others = [m for m in ("DELETE", "OPTIONS", "PATCH", "PUT", "TRACE") if m not in methods]

    async def not_allowed() -> Response:
        allow = {"Allow": ", ".join(methods)}
        raise api_error(405, ("path",), "Method Not Allowed", "http_error", headers=allow)

    router.add_api_route(path, not_allowed, methods=others, include_in_schema=False)


allow_only(router, "", ("GET", "POST"))


@router.get("/{campaign_id}", response_model=CampaignDetail, responses=NOT_FOUND)
async def get_campaign(campaign_id: CampaignId, _key: ClientKey, redis: RedisDep) -> CampaignDetail:
    """The campaign, and how many of its calls are in each status."""
    campaign = await campaigns.load(redis, campaign_id)
    if campaign is None:
        raise _not_found(campaign_id)
    return await _detail(redis, campaign)


@router.post("/{campaign_id}/pause", response_model=CampaignDetail, responses=NOT_FOUND | CONFLICT)
async def pause_campaign(
    campaign_id: CampaignId, _key: ClientKey, redis: RedisDep
) -> CampaignDetail:
    """Release no more calls (calls already released go on); `resume` picks up where it was."""
    return await _move(redis, campaign_id, CampaignState.PAUSED, {CampaignState.RUNNING})


@router.post("/{campaign_id}/resume", response_model=CampaignDetail, responses=NOT_FOUND | CONFLICT)
async def resume_campaign(
    campaign_id: CampaignId, _key: ClientKey, redis: RedisDep
) -> CampaignDetail:
    """Release calls again, from the first one still held."""
    return await _move(redis, campaign_id, CampaignState.RUNNING, {CampaignState.PAUSED})


@router.post("/{campaign_id}/cancel", response_model=CampaignDetail, responses=NOT_FOUND | CONFLICT)
async def cancel_campaign(
    campaign_id: CampaignId, _key: ClientKey, redis: RedisDep
) -> CampaignDetail:
    """Cancel the campaign and every call of it not yet dialing (held, queued or scheduled)."""
    moved, before = await campaigns.cancel(redis, campaign_id)
    return await _after_move(redis, campaign_id, moved, before, "cancel")


async def _move(
    redis: RedisDep, campaign_id: str, state: CampaignState, expect: set[CampaignState]
) -> CampaignDetail:
    moved, before = await campaigns.move(redis, campaign_id, state, expect=expect)
    verb = "pause" if state == CampaignState.PAUSED else "resume"
    return await _after_move(redis, campaign_id, moved, before, verb)


async def _after_move(
    redis: RedisDep, campaign_id: str, moved: bool, before: Campaign | None, verb: str
) -> CampaignDetail:
    if before is None:
        raise _not_found(campaign_id)
    if not moved:
        msg = f"campaign is {before.state.value}; cannot {verb} it"
        raise api_error(409, ("path", "campaign_id"), msg, "campaign_state")
    logger.info("campaign %s: %s", campaign_id, verb)
    campaign = await campaigns.load(redis, campaign_id)
    assert campaign is not None  # campaigns are never deleted
    return await _detail(redis, campaign)


async def _detail(redis: RedisDep, campaign: Campaign) -> CampaignDetail:
    counts = await campaigns.progress(redis, campaign)
    return CampaignDetail(**campaign.model_dump(), counts=counts)


def _not_found(campaign_id: str) -> Exception:
    return api_error(
        404, ("path", "campaign_id"), f"no campaign with id {campaign_id}", "not_found"
    )


async def _text_body(request: Request) -> str:
    try:
        return (await request.body()).decode()
    except UnicodeDecodeError as err:
        raise api_error(400, ("body",), "the body is not UTF-8 text", "body_encoding") from err


Loc = tuple[str | int, ...]


def _validated(build: Callable[[], CampaignBody], loc_of: Callable[[Loc], Loc]) -> CampaignBody:
    """Run `build`; a ValidationError becomes FastAPI's own 422, each `loc` placed by `loc_of`."""
    try:
        body: CampaignBody = build()
    except ValidationError as err:
        errors = [{**e, "loc": loc_of(e["loc"])} for e in err.errors(include_url=False)]
        raise RequestValidationError(errors) from err
    return body


def _body_loc(loc: Loc) -> Loc:
    return ("body", *loc)


def _csv_loc(loc: Loc) -> Loc:
    """Rows are in the body; the settings came as query parameters."""
    if loc and loc[0] == "callees":
        return ("body", *loc)
    if loc and loc[0] == "calling_hours":
        return ("query", *loc[1:])
    return ("query", *loc)


def _from_csv(text: str, given: dict[str, Any]) -> CampaignBody:
    settings: dict[str, Any] = {k: v for k, v in given.items() if k not in ("days", "start", "end")}
    if {"days", "start", "end"} & given.keys():
        hours: dict[str, Any] = {k: given[k] for k in ("start", "end") if k in given}
        if "days" in given:
            hours["days"] = [day.strip() for day in given["days"].split(",") if day.strip()]
        settings["calling_hours"] = hours
    rows = _csv_rows(text)
    return _validated(lambda: CampaignBody.model_validate({**settings, "callees": rows}), _csv_loc)


def _csv_rows(text: str) -> list[dict[str, Any]]:
    """The rows as callee dicts: `to_number`, `caller_name`, every other column a variable."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = _header([cell.strip() for cell in next(reader, [])])
        rows: list[dict[str, Any]] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            rows.append(_callee(header, cells, len(rows)))
        return rows
    except csv.Error as err:
        raise api_error(422, ("body",), f"not readable as CSV: {err}", "csv") from err


def _header(names: list[str]) -> list[str]:
    if "to_number" not in names or "" in names or len(set(names)) < len(names):
        msg = (
            "the CSV header must name its columns: to_number,caller_name,<variables> "
            "(to_number required; no empty or repeated names)"
        )
        raise api_error(422, ("body",), msg, "csv_header")
    return names


def _callee(header: list[str], cells: list[str], index: int) -> dict[str, Any]:
    if len(cells) > len(header):
        msg = f"row has {len(cells)} cells but the header names {len(header)} columns"
        raise api_error(422, ("body", "callees", index), msg, "csv_row")
    values = dict(zip(header, (cell.strip() for cell in cells), strict=False))
    row: dict[str, Any] = {"to_number": values.get("to_number", "")}
    if values.get("caller_name"):
        row["caller_name"] = values["caller_name"]
    row["variables"] = {k: v for k, v in values.items() if k not in FIXED_COLUMNS and v}
    return row
