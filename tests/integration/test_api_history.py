"""The calls API over the history, with a real Redis and a real SQLite file: every call is
listed (live ones first, then the history), filtered and paged; any call is read by id;
a deleted call is gone everywhere; exports and stats read the same filters."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from api.main import create_app
from api.settings import ApiSettings
from dialroom.calls import CallRecord, TranscriptLine, TurnLatency, save_call_record
from dialroom.history import open_history
from dispatcher.archive import Archiver
from tests.support.history import sqlite_url

pytestmark = pytest.mark.integration

KEY = "history-test-key-0123456789abcdefghijk"
AUTH = {"X-API-Key": KEY}
NOW = time.time()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
def client(redis_url: str, database_url: str) -> Iterator[TestClient]:
    settings = ApiSettings(
        redis_url=redis_url, database_url=database_url, api_keys=KEY, dialroom_dev=False
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def inbound(call_id: str, caller: str, *, ago_s: float, **more: object) -> CallRecord:
    started = NOW - ago_s
    fields: dict[str, object] = {
        "call_id": call_id,
        "persona": "demo",
        "direction": "inbound",
        "room": f"call-{call_id}",
        "caller_number": caller,
        "called_number": "+15550001111",
        "started_at": started,
        "ended_at": started + 40,
        "outcome": "caller_hung_up",
        "transcript": [TranscriptLine(role="caller", text="hello there", at=started + 3)],
        "turns": [TurnLatency(at=started + 5, voice_to_voice_s=0.9)],
    }
    return CallRecord.model_validate({**fields, **more})


def finish(redis_url: str, database_url: str, *records: CallRecord) -> None:
    """Workers write the records; the dispatcher's archiver moves them to the history."""

    async def run() -> None:
        client = Redis.from_url(redis_url, decode_responses=True)
        history = await open_history(database_url)
        try:
            for record in records:
                await save_call_record(client, record)
            await Archiver(client, history, record_ttl_s=60, retention_days=90).archive()
        finally:
            await history.close()
            await client.aclose()

    asyncio.run(run())


def place(client: TestClient) -> str:
    body = {"to_number": "+14155550123", "persona": "demo"}
    response = client.post("/api/outbound-call", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    return str(response.json()["call_id"])


def ids(client: TestClient, **params: object) -> list[str]:
    response = client.get("/api/calls", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    return [c["call_id"] for c in response.json()["calls"]]


def test_an_inbound_call_is_listed_and_found_by_the_last_digits_of_its_number(
    client: TestClient, redis_url: str, database_url: str
) -> None:
    finish(
        redis_url,
        database_url,
        inbound("in-old-1", "+14155550123", ago_s=300),
        inbound("in-new-1", "+14155559876", ago_s=60, outcome="lines_busy"),
    )
    assert ids(client) == ["in-new-1", "in-old-1"]
    assert ids(client, number="9876") == ["in-new-1"]
    assert ids(client, number="+14155550123") == ["in-old-1"]
    assert ids(client, outcome="lines_busy") == ["in-new-1"]
    assert ids(client, direction="outbound") == []
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 120))
    assert ids(client, since=since) == ["in-new-1"]
    [call] = client.get("/api/calls", params={"number": "9876"}, headers=AUTH).json()["calls"]
    assert (call["direction"], call["outcome"], call["status"]) == ("inbound", "lines_busy", None)


def test_any_call_is_read_by_id_before_and_after_it_is_archived(
    client: TestClient, redis_url: str, database_url: str
) -> None:
    with redis.Redis.from_url(redis_url) as store:
        store.set(
            "dialroom:call:in-live-1", inbound("in-live-1", "+1415555", ago_s=9).model_dump_json()
        )
    before = client.get("/api/calls/in-live-1", headers=AUTH).json()
    assert (before["direction"], before["archived"]) == ("inbound", False)
    finish(redis_url, database_url, inbound("in-live-1", "+14155550000", ago_s=9))
    after = client.get("/api/calls/in-live-1", headers=AUTH).json()
    assert after["archived"] is True and after["outcome"] == "caller_hung_up"
    assert after["record"]["transcript"][0]["text"] == "hello there"
    assert client.get("/api/calls/nosuchcall", headers=AUTH).status_code == 404


def test_live_calls_come_first_then_the_history_and_pages_cover_each_once(
    client: TestClient, redis_url: str, database_url: str
) -> None:
    queued = [place(client) for _ in range(2)]
    finish(
        redis_url,
        database_url,
        *(inbound(f"in-page-{i}", "+14155550123", ago_s=100 - i) for i in range(3)),
    )
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/calls", params=params, headers=AUTH).json()
        seen += [c["call_id"] for c in page["calls"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == [queued[1], queued[0], "in-page-2", "in-page-1", "in-page-0"]


def test_a_deleted_call_is_gone_from_the_history_and_redis(
    client: TestClient, redis_url: str, database_url: str
) -> None:
    finish(redis_url, database_url, inbound("in-erase-1", "+14155550123", ago_s=30))
    assert client.delete("/api/calls/in-erase-1", headers=AUTH).status_code == 204
    assert client.get("/api/calls/in-erase-1", headers=AUTH).status_code == 404
    assert ids(client) == []
    with redis.Redis.from_url(redis_url) as store:
        assert list(store.scan_iter(match="*in-erase-1*")) == []
        assert store.zscore("dialroom:calls:ended", "in-erase-1") is None
    assert client.delete("/api/calls/in-erase-1", headers=AUTH).status_code == 404


def test_a_call_still_waiting_cannot_be_deleted(client: TestClient) -> None:
    call_id = place(client)
    response = client.delete(f"/api/calls/{call_id}", headers=AUTH)
    assert response.status_code == 409 and response.json()["detail"][0]["type"] == "call_not_ended"
    client.post(f"/api/calls/{call_id}/cancel", headers=AUTH)
    assert client.delete(f"/api/calls/{call_id}", headers=AUTH).status_code == 204
    assert client.get(f"/api/calls/{call_id}", headers=AUTH).status_code == 404


def test_exports_are_csv_and_json_lines_with_the_same_filters(
    client: TestClient, redis_url: str, database_url: str
) -> None:
    finish(
        redis_url,
        database_url,
        inbound("in-csv-1", "+14155550123", ago_s=50),
        inbound("in-csv-2", "+14155559876", ago_s=40, persona="receptionist"),
    )
    response = client.get("/api/calls/export", params={"persona": "demo"}, headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["call_id"], r["caller_number"], r["outcome"]) for r in rows] == [
        ("in-csv-1", "+14155550123", "caller_hung_up")
    ]
    lines = client.get("/api/calls/export", params={"format": "jsonl"}, headers=AUTH).text
    calls = [json.loads(line) for line in lines.splitlines()]
    assert [c["call_id"] for c in calls] == ["in-csv-2", "in-csv-1"]
    assert calls[1]["record"]["transcript"][0]["text"] == "hello there"


def test_stats_count_outcomes_and_give_latency_percentiles_per_persona(
    client: TestClient, redis_url: str, database_url: str
) -> None:
    noon = 1_767_268_800.0  # 2026-01-01 12:00 UTC: every call and reply within one day
    replies = [TurnLatency(at=noon + i, voice_to_voice_s=s) for i, s in enumerate((0.5, 0.7, 2.0))]
    finish(
        redis_url,
        database_url,
        inbound("in-st-1", "+14155550123", ago_s=NOW - noon, turns=replies),
        inbound("in-st-2", "+14155550123", ago_s=NOW - noon - 60, outcome="lines_busy", turns=[]),
    )
    params = {"bucket": "day", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}
    stats = client.get("/api/stats", params=params, headers=AUTH).json()
    assert [(o["start"], o["outcome"], o["calls"]) for o in stats["outcomes"]] == [
        (noon - 43200, "caller_hung_up", 1),
        (noon - 43200, "lines_busy", 1),
    ]
    [latency] = stats["voice_to_voice"]
    assert (latency["persona"], latency["turns"], latency["p50_s"], latency["p95_s"]) == (
        "demo",
        3,
        0.7,
        2.0,
    )
    assert client.get("/api/stats", headers=AUTH).json()["outcomes"] == [], "default: last day"
