"""Campaigns through the API and the feeder, on a real Redis: create from JSON or CSV, row
errors naming the row, progress counts, pause / resume / cancel, the concurrency cap, the
calling window and do-not-call rows. (The dispatcher side, with LiveKit, is in
test_campaign_dispatch.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from dialroom import dnc
from dialroom.call_status import CallStatus, current_status
from dialroom.campaigns import INFLIGHT_KEY, PENDING_KEY
from dialroom.dial_queue import QUEUE_STREAM
from dispatcher.campaigns import feed_campaigns
from tests.support.api_client import AUTH, make_client, post_csv
from tests.support.statuses import walk

pytestmark = pytest.mark.integration

# A released call, dialed and answered to its end, as dispatcher and worker report it.
ENDED = (CallStatus.DIALING, CallStatus.ANSWERED, CallStatus.COMPLETED)
NUMBERS = ["+14155550101", "+14155550102", "+14155550103", "+14155550104", "+14155550105"]


@pytest.fixture
def client(redis_url: str) -> Iterator[TestClient]:
    with make_client(redis_url) as test_client:
        yield test_client


def campaign_json(numbers: list[str] = NUMBERS, **settings: object) -> dict[str, object]:
    callees = [
        {"to_number": n, "caller_name": f"Person {i}", "variables": {"order": str(i)}}
        for i, n in enumerate(numbers)
    ]
    return {"persona": "demo", "callees": callees, **settings}


def create(client: TestClient, **settings: object) -> dict[str, object]:
    response = client.post("/api/campaigns", json=campaign_json(**settings), headers=AUTH)  # type: ignore[arg-type]
    assert response.status_code == 201, response.text
    return dict(response.json())


def counts(client: TestClient, campaign_id: object) -> dict[str, int]:
    response = client.get(f"/api/campaigns/{campaign_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return dict(response.json()["counts"])


async def campaign_calls(client: TestClient, campaign_id: object) -> list[str]:
    """The campaign's call ids, oldest (first row) first, as GET /api/calls shows them."""
    calls = client.get("/api/calls", params={"limit": 100}, headers=AUTH).json()["calls"]
    return [c["call_id"] for c in reversed(calls) if c["campaign_id"] == campaign_id]


async def statuses(store: Redis, call_ids: list[str]) -> list[CallStatus]:
    found = [await current_status(store, c) for c in call_ids]
    return [s.status for s in found if s is not None]


async def test_a_json_campaign_queues_one_ordinary_call_per_row(
    client: TestClient, store: Redis
) -> None:
    created = create(client, concurrency=2, max_attempts=3, name="June reminders")
    assert created["state"] == "running"
    assert created["counts"] == {**counts(client, created["campaign_id"])}
    assert created["counts"]["total"] == 5 and created["counts"]["queued"] == 5  # type: ignore[index]
    assert created["counts"]["waiting"] == 5 and created["counts"]["do_not_call"] == 0  # type: ignore[index]
    call_ids = await campaign_calls(client, created["campaign_id"])
    assert len(call_ids) == 5
    call = client.get(f"/api/calls/{call_ids[1]}", headers=AUTH).json()
    assert call["campaign_id"] == created["campaign_id"] and call["status"] == "queued"
    request = call["request"]
    assert request["to_number"] == NUMBERS[1] and request["caller_name"] == "Person 1"
    assert request["variables"] == {"order": "1"} and request["max_attempts"] == 3
    assert await store.xlen(QUEUE_STREAM) == 0, "held by the campaign, not yet in the queue"
    detail = client.get(f"/api/campaigns/{created['campaign_id']}", headers=AUTH).json()
    assert detail["name"] == "June reminders" and detail["concurrency"] == 2


def test_a_csv_campaign_reads_names_and_variable_columns(client: TestClient) -> None:
    body = "to_number,caller_name,order,day\n+14155550101,Sam,42,tuesday\n\n+14155550102,,43,\n"
    settings = {"persona": "demo", "concurrency": 3, "days": "mon,tue", "start": "08:00"}
    response = post_csv(client, body, settings)
    assert response.status_code == 201, response.text
    campaign_id = response.json()["campaign_id"]
    detail = client.get(f"/api/campaigns/{campaign_id}", headers=AUTH).json()
    assert detail["counts"]["total"] == 2 and detail["concurrency"] == 3
    assert detail["calling_hours"] == {"days": ["mon", "tue"], "start": "08:00", "end": "18:00"}
    calls = client.get("/api/calls", headers=AUTH).json()["calls"]
    requests = [client.get(f"/api/calls/{c['call_id']}", headers=AUTH).json() for c in calls]
    by_number = {r["request"]["to_number"]: r["request"] for r in requests}
    assert by_number["+14155550101"]["caller_name"] == "Sam"
    assert by_number["+14155550101"]["variables"] == {"order": "42", "day": "tuesday"}
    assert by_number["+14155550102"]["caller_name"] is None
    assert by_number["+14155550102"]["variables"] == {"order": "43"}


def test_a_bad_json_row_is_a_422_naming_the_row_and_field(client: TestClient) -> None:
    body = campaign_json(["+14155550101", "+14155550102", "+14155550103", "5551234"])
    response = client.post("/api/campaigns", json=body, headers=AUTH)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "callees", 3, "to_number"] and error["type"] == "phone_number"
    assert client.get("/api/calls", headers=AUTH).json()["calls"] == [], "nothing was queued"


def test_a_bad_csv_row_is_the_same_422_counting_data_rows_from_zero(client: TestClient) -> None:
    body = "to_number,caller_name\n+14155550101,Sam\n+14155550102,Kim\n+1 415 555,Lee\n"
    response = post_csv(client, body, {"persona": "demo"})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "callees", 2, "to_number"]


@pytest.mark.parametrize(
    ("params", "body", "loc"),
    [
        ({"persona": "demo"}, "number,name\n+14155550101,Sam\n", ["body"]),
        ({"persona": "demo"}, "to_number\n+14155550101,extra\n", ["body", "callees", 0]),
        ({"persona": "demo"}, "to_number,caller_name\n", ["body", "callees"]),
        ({}, "to_number\n+14155550101\n", ["query", "persona"]),
        ({"persona": "nobody"}, "to_number\n+14155550101\n", ["query", "persona"]),
        ({"persona": "demo", "start": "25:00"}, "to_number\n+14155550101\n", ["query", "start"]),
        ({"persona": "demo", "days": "mon,xyz"}, "to_number\n+14155550101\n", ["query", "days", 1]),
    ],
    ids=["no-to_number", "extra-cell", "no-rows", "no-persona", "bad-persona", "bad-start", "day"],
)
def test_csv_mistakes_are_422s_naming_where(
    client: TestClient, params: dict[str, str], body: str, loc: list[object]
) -> None:
    response = post_csv(client, body, params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


def test_settings_in_the_query_are_refused_with_a_json_body(client: TestClient) -> None:
    response = client.post(
        "/api/campaigns", params={"concurrency": 2}, json=campaign_json(), headers=AUTH
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "concurrency"]


def test_another_content_type_is_a_415(client: TestClient) -> None:
    response = client.post(
        "/api/campaigns", content="x", headers={**AUTH, "Content-Type": "application/xml"}
    )
    assert response.status_code == 415
    assert response.json()["detail"][0]["loc"] == ["header", "Content-Type"]


async def test_progress_counts_follow_the_calls_statuses(client: TestClient, store: Redis) -> None:
    campaign_id = create(client, concurrency=5)["campaign_id"]
    await feed_campaigns(store)
    first, second, third, *_ = await campaign_calls(client, campaign_id)
    await walk(store, first, CallStatus.DIALING, attempt=1)
    await walk(store, second, CallStatus.DIALING, CallStatus.ANSWERED, attempt=1)
    await walk(store, third, CallStatus.DIALING, CallStatus.BUSY, attempt=1, sip_code=486)
    now = counts(client, campaign_id)
    assert now["waiting"] == 0
    assert (now["queued"], now["dialing"], now["answered"], now["busy"]) == (2, 1, 1, 1)
    await walk(store, second, CallStatus.COMPLETED, attempt=1)
    assert counts(client, campaign_id)["completed"] == 1
    assert counts(client, campaign_id)["answered"] == 0


async def test_the_feeder_keeps_the_concurrency_and_releases_as_calls_finish(
    client: TestClient, store: Redis
) -> None:
    campaign_id = create(client, concurrency=2, max_attempts=2)["campaign_id"]
    call_ids = await campaign_calls(client, campaign_id)
    inflight = INFLIGHT_KEY.format(campaign_id=campaign_id)
    assert await feed_campaigns(store) == 2
    assert await feed_campaigns(store) == 0, "two in flight: the cap holds"
    assert sorted(await store.smembers(inflight)) == sorted(call_ids[:2]), "in row order"
    assert await store.xlen(QUEUE_STREAM) == 2

    # A busy call with an attempt left keeps its slot (its retry comes back); a done one frees it.
    await walk(store, call_ids[0], CallStatus.DIALING, CallStatus.BUSY, attempt=1)
    assert await feed_campaigns(store) == 0
    await walk(store, call_ids[1], *ENDED, attempt=1)
    assert await feed_campaigns(store) == 1
    await walk(store, call_ids[0], CallStatus.SCHEDULED, attempt=1)  # the retry: attempt 2
    await walk(store, call_ids[0], CallStatus.DIALING, CallStatus.BUSY, attempt=2)  # the last
    assert await feed_campaigns(store) == 1
    assert await store.scard(inflight) == 2
    assert counts(client, campaign_id)["waiting"] == 1


async def test_pause_holds_the_calls_and_resume_releases_them(
    client: TestClient, store: Redis
) -> None:
    campaign_id = create(client, concurrency=1)["campaign_id"]
    call_ids = await campaign_calls(client, campaign_id)
    assert await feed_campaigns(store) == 1
    paused = client.post(f"/api/campaigns/{campaign_id}/pause", headers=AUTH)
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    await walk(store, call_ids[0], *ENDED, attempt=1)
    assert await feed_campaigns(store) == 0, "paused: nothing released"
    assert await store.llen(PENDING_KEY.format(campaign_id=campaign_id)) == 4, "none dropped"
    assert client.post(f"/api/campaigns/{campaign_id}/pause", headers=AUTH).status_code == 409

    resumed = client.post(f"/api/campaigns/{campaign_id}/resume", headers=AUTH)
    assert resumed.status_code == 200 and resumed.json()["state"] == "running"
    assert await feed_campaigns(store) == 1
    assert await statuses(store, [call_ids[1]]) == [CallStatus.QUEUED]
    assert await store.xlen(QUEUE_STREAM) == 2


async def test_the_campaign_completes_when_every_call_has_ended(
    client: TestClient, store: Redis
) -> None:
    campaign_id = create(client, numbers=NUMBERS[:2], concurrency=2)["campaign_id"]
    await feed_campaigns(store)
    for call_id in await campaign_calls(client, campaign_id):
        await walk(store, call_id, *ENDED, attempt=1)
    await feed_campaigns(store)
    detail = client.get(f"/api/campaigns/{campaign_id}", headers=AUTH).json()
    assert detail["state"] == "completed" and detail["counts"]["completed"] == 2


async def test_cancel_cancels_every_call_not_yet_dialing(client: TestClient, store: Redis) -> None:
    campaign_id = create(client, concurrency=2)["campaign_id"]
    call_ids = await campaign_calls(client, campaign_id)
    await feed_campaigns(store)
    await walk(store, call_ids[0], CallStatus.DIALING, attempt=1)  # released and being dialed

    response = client.post(f"/api/campaigns/{campaign_id}/cancel", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["state"] == "canceled"
    assert response.json()["counts"]["canceled"] == 4 and response.json()["counts"]["waiting"] == 0
    assert await statuses(store, call_ids) == [CallStatus.DIALING] + [CallStatus.CANCELED] * 4
    await walk(store, call_ids[0], CallStatus.ANSWERED, CallStatus.COMPLETED, attempt=1)
    assert await feed_campaigns(store) == 0
    assert client.post(f"/api/campaigns/{campaign_id}/resume", headers=AUTH).status_code == 409
    assert client.post(f"/api/campaigns/{campaign_id}/cancel", headers=AUTH).status_code == 409


async def test_a_held_call_canceled_on_its_own_is_never_released(
    client: TestClient, store: Redis
) -> None:
    campaign_id = create(client, numbers=NUMBERS[:3], concurrency=2)["campaign_id"]
    first, second, third = await campaign_calls(client, campaign_id)
    assert client.post(f"/api/calls/{first}/cancel", headers=AUTH).status_code == 200
    assert await feed_campaigns(store) == 2
    assert sorted(await store.smembers(INFLIGHT_KEY.format(campaign_id=campaign_id))) == sorted(
        [second, third]
    )
    now = counts(client, campaign_id)
    assert (now["canceled"], now["queued"], now["waiting"]) == (1, 2, 0)


def test_an_unknown_campaign_is_a_404(client: TestClient) -> None:
    missing = "0" * 32
    for response in (
        client.get(f"/api/campaigns/{missing}", headers=AUTH),
        client.post(f"/api/campaigns/{missing}/pause", headers=AUTH),
        client.post(f"/api/campaigns/{missing}/cancel", headers=AUTH),
    ):
        assert response.status_code == 404
        assert response.json()["detail"][0]["loc"] == ["path", "campaign_id"]


def test_campaigns_are_listed_newest_first_in_pages(client: TestClient) -> None:
    ids = [create(client, name=f"c{i}")["campaign_id"] for i in range(3)]
    first = client.get("/api/campaigns", params={"limit": 2}, headers=AUTH).json()
    assert [c["campaign_id"] for c in first["campaigns"]] == [ids[2], ids[1]]
    rest = client.get(
        "/api/campaigns", params={"limit": 2, "cursor": first["next_cursor"]}, headers=AUTH
    ).json()
    assert [c["campaign_id"] for c in rest["campaigns"]] == [ids[0]]
    assert rest["next_cursor"] is None


async def test_rows_on_the_do_not_call_list_are_skipped_and_counted(
    client: TestClient, store: Redis
) -> None:
    await dnc.add(store, NUMBERS[2], source="test")
    created = create(client)
    assert created["counts"]["total"] == 5 and created["counts"]["do_not_call"] == 1  # type: ignore[index]
    assert created["counts"]["queued"] == 4  # type: ignore[index]
    call_ids = await campaign_calls(client, created["campaign_id"])
    numbers = [
        client.get(f"/api/calls/{c}", headers=AUTH).json()["request"]["to_number"] for c in call_ids
    ]
    assert NUMBERS[2] not in numbers and len(numbers) == 4


async def test_calls_are_released_only_inside_the_calling_window(
    client: TestClient, store: Redis
) -> None:
    hours = {"days": ["mon"], "start": "09:00", "end": "17:00"}  # the callee's time: LA
    create(client, numbers=NUMBERS[:2], concurrency=2, calling_hours=hours)
    sunday_noon_la = datetime(2030, 6, 2, 19, 0, tzinfo=UTC).timestamp()
    monday_8am_la = datetime(2030, 6, 3, 15, 0, tzinfo=UTC).timestamp()
    monday_noon_la = datetime(2030, 6, 3, 19, 0, tzinfo=UTC).timestamp()
    assert await feed_campaigns(store, now=sunday_noon_la) == 0
    assert await feed_campaigns(store, now=monday_8am_la) == 0
    assert await feed_campaigns(store, now=monday_noon_la) == 2


async def test_a_callee_whose_window_never_opens_fails_not_held(
    client: TestClient, store: Redis
) -> None:
    hours = {"days": ["mon"], "start": "09:00", "end": "17:00"}
    freephone = "+80012345678"  # valid, but in no time zone: no safe time to call
    campaign_id = create(client, numbers=[freephone, NUMBERS[0]], calling_hours=hours)[
        "campaign_id"
    ]
    unplaceable, placeable = await campaign_calls(client, campaign_id)
    monday_noon_la = datetime(2030, 6, 3, 19, 0, tzinfo=UTC).timestamp()
    assert await feed_campaigns(store, now=monday_noon_la) == 1
    now = await current_status(store, unplaceable)
    assert now is not None and now.status == CallStatus.FAILED  # as for a single call
    assert "never open" in (now.detail or "")
    assert await store.smembers(INFLIGHT_KEY.format(campaign_id=campaign_id)) == {placeable}
