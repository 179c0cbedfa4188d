"""The calls API against a real Redis: accept, validate, authenticate, dedupe, cancel, limit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from dialroom.call_status import CallStatus
from dialroom.dial_queue import QUEUE_STREAM, SCHEDULED
from dialroom.persona import available
from tests.support.api_client import AUTH, CALL, KEY, OTHER_KEY, make_client
from tests.support.statuses import walk

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url: str) -> Iterator[TestClient]:
    with make_client(redis_url) as test_client:
        yield test_client


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        yield client


def place(client: TestClient, **changes: object) -> str:
    response = client.post("/api/outbound-call", json={**CALL, **changes}, headers=AUTH)
    assert response.status_code == 202, response.text
    return str(response.json()["call_id"])


def test_a_call_is_accepted_with_202_and_queued(client: TestClient, store: redis.Redis) -> None:
    response = client.post("/api/outbound-call", json=CALL, headers=AUTH)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["call_id"]
    assert store.xlen(QUEUE_STREAM) == 1
    call = client.get(f"/api/calls/{body['call_id']}", headers=AUTH).json()
    assert call["status"] == "queued"
    assert call["request"]["to_number"] == CALL["to_number"]
    assert call["request"]["caller_name"] == "Sam"


def test_a_bearer_token_works_like_the_header(client: TestClient) -> None:
    response = client.post(
        "/api/outbound-call", json=CALL, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert response.status_code == 202


@pytest.mark.parametrize("number", ["5551234", "+1 415 555 0123", "+15551234567", "+999"])
def test_a_bad_number_is_a_422_naming_to_number(client: TestClient, number: str) -> None:
    response = client.post("/api/outbound-call", json={**CALL, "to_number": number}, headers=AUTH)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "to_number"]
    assert "E.164" in error["msg"] and error["type"] == "phone_number"


def test_an_unknown_persona_is_a_422_listing_the_valid_ones(client: TestClient) -> None:
    response = client.post("/api/outbound-call", json={**CALL, "persona": "nobody"}, headers=AUTH)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "persona"] and error["type"] == "unknown_persona"
    for name in available():
        assert name in error["msg"]


def test_personas_are_the_ones_in_the_configured_agents_dir(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "alpha.yaml").write_text("name: alpha\n")
    with make_client(redis_url, agents_dir=tmp_path) as other:
        refused = other.post("/api/outbound-call", json=CALL, headers=AUTH)
        assert refused.status_code == 422
        assert "valid personas: alpha" in refused.json()["detail"][0]["msg"]
        accepted = other.post("/api/outbound-call", json={**CALL, "persona": "alpha"}, headers=AUTH)
        assert accepted.status_code == 202


def test_a_schedule_without_a_timezone_is_a_422_naming_schedule_at(client: TestClient) -> None:
    response = client.post(
        "/api/outbound-call", json={**CALL, "schedule_at": "2030-01-01T09:00:00"}, headers=AUTH
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "schedule_at"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"X-API-Key": ""}],
    ids=["missing", "wrong-header", "wrong-bearer", "empty"],
)
def test_a_missing_or_wrong_key_is_a_401(
    client: TestClient, store: redis.Redis, headers: dict[str, str]
) -> None:
    response = client.post("/api/outbound-call", json=CALL, headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"][0]["loc"] == ["header", "X-API-Key"]
    assert client.get("/api/calls", headers=headers).status_code == 401
    assert store.xlen(QUEUE_STREAM) == 0


def test_the_dev_key_works_only_in_dev_mode(redis_url: str) -> None:
    dev = {"X-API-Key": "dev-api-key"}
    with make_client(redis_url) as production:
        assert production.get("/api/calls", headers=dev).status_code == 401
    with make_client(redis_url, dialroom_dev=True) as development:
        assert development.get("/api/calls", headers=dev).status_code == 200


def test_an_idempotency_key_repeat_returns_the_same_call_and_queues_one(
    client: TestClient, store: redis.Redis
) -> None:
    headers = {**AUTH, "Idempotency-Key": "order-42"}
    first = client.post("/api/outbound-call", json=CALL, headers=headers)
    second = client.post("/api/outbound-call", json=CALL, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["call_id"] == second.json()["call_id"]
    assert second.headers["Idempotent-Replayed"] == "true"
    assert store.xlen(QUEUE_STREAM) == 1
    other = client.post("/api/outbound-call", json=CALL, headers={**AUTH, "Idempotency-Key": "x9"})
    assert other.json()["call_id"] != first.json()["call_id"]


def test_idempotency_keys_of_different_clients_do_not_collide(client: TestClient) -> None:
    mine = client.post("/api/outbound-call", json=CALL, headers={**AUTH, "Idempotency-Key": "k1"})
    theirs = client.post(
        "/api/outbound-call",
        json=CALL,
        headers={"X-API-Key": OTHER_KEY, "Idempotency-Key": "k1"},
    )
    assert mine.json()["call_id"] != theirs.json()["call_id"]


def test_a_future_schedule_is_recorded_as_scheduled(client: TestClient, store: redis.Redis) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = client.post("/api/outbound-call", json={**CALL, "schedule_at": later}, headers=AUTH)
    assert response.json()["status"] == "scheduled"
    assert store.zcard(SCHEDULED) == 1 and store.xlen(QUEUE_STREAM) == 0


def test_cancel_a_queued_call_then_cancel_again_is_409(client: TestClient) -> None:
    call_id = place(client)
    canceled = client.post(f"/api/calls/{call_id}/cancel", headers=AUTH)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    again = client.post(f"/api/calls/{call_id}/cancel", headers=AUTH)
    assert again.status_code == 409
    [error] = again.json()["detail"]
    assert error["loc"] == ["path", "call_id"] and "canceled" in error["msg"]


async def test_a_call_being_dialed_cannot_be_canceled(client: TestClient, redis_url: str) -> None:
    call_id = place(client)
    async with redis.asyncio.Redis.from_url(redis_url) as store:
        await walk(store, call_id, CallStatus.DIALING, attempt=1)
    assert client.post(f"/api/calls/{call_id}/cancel", headers=AUTH).status_code == 409


def test_an_unknown_call_is_a_404_naming_call_id(client: TestClient) -> None:
    response = client.get("/api/calls/nosuchcall", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["detail"][0]["loc"] == ["path", "call_id"]
    assert client.post("/api/calls/nosuchcall/cancel", headers=AUTH).status_code == 404


async def test_get_shows_the_status_history_with_timestamps(
    client: TestClient, redis_url: str
) -> None:
    call_id = place(client, max_attempts=2)
    async with redis.asyncio.Redis.from_url(redis_url) as store:
        await walk(
            store,
            call_id,
            CallStatus.DIALING,
            CallStatus.BUSY,
            attempt=1,
            sip_code=486,
            detail="486 Busy Here",
        )
    call = client.get(f"/api/calls/{call_id}", headers=AUTH).json()
    assert [event["status"] for event in call["history"]] == ["queued", "dialing", "busy"]
    times = [event["at"] for event in call["history"]]
    assert times == sorted(times) and all(t > 1.7e9 for t in times)
    assert call["status"] == "busy" and call["sip_code"] == 486
    assert call["attempts"] == 1 and call["max_attempts"] == 2
    assert call["record"] is None


def test_list_filters_by_status_and_persona_and_pages(client: TestClient) -> None:
    ids = [place(client) for _ in range(5)]
    canceled = ids[1]
    client.post(f"/api/calls/{canceled}/cancel", headers=AUTH)
    first = client.get("/api/calls", params={"limit": 2}, headers=AUTH).json()
    assert [c["call_id"] for c in first["calls"]] == [ids[4], ids[3]]
    second = client.get(
        "/api/calls", params={"limit": 2, "cursor": first["next_cursor"]}, headers=AUTH
    ).json()
    assert [c["call_id"] for c in second["calls"]] == [ids[2], ids[1]]
    only = client.get("/api/calls", params={"status": "canceled"}, headers=AUTH).json()
    assert [c["call_id"] for c in only["calls"]] == [canceled] and only["next_cursor"] is None
    none = client.get("/api/calls", params={"persona": "receptionist"}, headers=AUTH).json()
    assert none["calls"] == []


def test_a_repeated_query_parameter_is_a_422_naming_it(client: TestClient) -> None:
    response = client.get("/api/calls?persona=demo&persona=receptionist", headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "persona"]


def test_the_rate_limit_answers_429_with_retry_after(redis_url: str) -> None:
    with make_client(redis_url, rate_limit_per_minute=3) as limited:
        codes = [limited.get("/api/calls", headers=AUTH).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        refused = limited.get("/api/calls", headers=AUTH)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["detail"][0]["type"] == "rate_limited"
        # The limit is per key: another client is unaffected.
        other = limited.get("/api/calls", headers={"X-API-Key": OTHER_KEY})
        assert other.status_code == 200


def test_an_oversize_body_is_a_413(client: TestClient, store: redis.Redis) -> None:
    huge = {**CALL, "llm_prompt": "x" * 70_000}
    response = client.post("/api/outbound-call", json=huge, headers=AUTH)
    assert response.status_code == 413
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert store.xlen(QUEUE_STREAM) == 0


def test_an_oversize_chunked_body_is_a_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"to_number": "+14155550123", "persona": "demo", "llm_prompt": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    response = client.post(
        "/api/outbound-call",
        content=chunks(),
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_metrics_count_calls_by_status_and_queue_depth(client: TestClient) -> None:
    place(client)
    client.post(f"/api/calls/{place(client)}/cancel", headers=AUTH)
    text = client.get("/metrics").text
    assert 'dialroom_calls_total{status="queued"} 2.0' in text
    assert 'dialroom_calls_total{status="canceled"} 1.0' in text
    assert 'dialroom_queue_depth{queue="ready"} 2.0' in text
    assert "dialroom_dial_latency_seconds_count 0.0" in text


def test_ready_names_what_is_down(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 503  # no LiveKit in this test
    body = response.json()
    assert body["redis"] == "ok" and body["livekit"].startswith("error")


def test_the_api_refuses_to_start_without_keys_outside_dev_mode(redis_url: str) -> None:
    from dialroom.settings import SettingsError

    with pytest.raises(SettingsError, match="API_KEYS"):
        create_app(ApiSettings(redis_url=redis_url, api_keys="", dialroom_dev=False))
