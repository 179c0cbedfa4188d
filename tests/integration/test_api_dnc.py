"""The do-not-call list through the API, on a real Redis: add, list, remove, and a single call
to a listed number refused with a 422 naming `to_number`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from dialroom.dial_queue import QUEUE_STREAM
from tests.support.api_client import AUTH, CALL, make_client

pytestmark = pytest.mark.integration

NUMBER = str(CALL["to_number"])


@pytest.fixture
def client(redis_url: str) -> Iterator[TestClient]:
    with make_client(redis_url) as test_client:
        yield test_client


def test_a_call_to_a_listed_number_is_refused_naming_to_number(
    client: TestClient, redis_url: str
) -> None:
    added = client.post(
        "/api/dnc", json={"number": NUMBER, "reason": "asked by email"}, headers=AUTH
    )
    assert added.status_code == 201
    assert added.json()["number"] == NUMBER and added.json()["source"] == "api: asked by email"

    refused = client.post("/api/outbound-call", json=CALL, headers=AUTH)
    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", "to_number"] and error["type"] == "do_not_call"
    with redis.Redis.from_url(redis_url) as store:
        assert store.xlen(QUEUE_STREAM) == 0

    assert client.delete(f"/api/dnc/{NUMBER}", headers=AUTH).status_code == 204
    assert client.post("/api/outbound-call", json=CALL, headers=AUTH).status_code == 202


def test_listing_again_keeps_the_first_entry(client: TestClient) -> None:
    first = client.post("/api/dnc", json={"number": NUMBER, "reason": "first"}, headers=AUTH)
    again = client.post("/api/dnc", json={"number": NUMBER, "reason": "second"}, headers=AUTH)
    assert again.status_code == 200
    assert again.json() == first.json()


def test_the_list_is_newest_first_with_a_total(client: TestClient) -> None:
    numbers = ["+14155550101", "+14155550102", "+14155550103"]
    for number in numbers:
        client.post("/api/dnc", json={"number": number}, headers=AUTH)
    page = client.get("/api/dnc", params={"limit": 2}, headers=AUTH).json()
    assert page["total"] == 3
    assert [e["number"] for e in page["numbers"]] == [numbers[2], numbers[1]]
    rest = client.get("/api/dnc", params={"limit": 2, "offset": 2}, headers=AUTH).json()
    assert [e["number"] for e in rest["numbers"]] == [numbers[0]]
    assert rest["numbers"][0]["source"] == "api"


def test_a_bad_number_is_a_422_and_an_unlisted_one_a_404(client: TestClient) -> None:
    bad = client.post("/api/dnc", json={"number": "555 1234"}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "number"]
    missing = client.delete("/api/dnc/+14155550199", headers=AUTH)
    assert missing.status_code == 404 and missing.json()["detail"][0]["loc"] == ["path", "number"]


def test_the_list_needs_a_key(client: TestClient) -> None:
    assert client.get("/api/dnc").status_code == 401
    assert client.post("/api/dnc", json={"number": NUMBER}).status_code == 401
