"""Creating a campaign through the API, on a real Redis: an `Idempotency-Key` makes a repeated
POST return the first campaign, and a number given twice is called once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.integration.test_api_campaigns import NUMBERS, campaign_calls, campaign_json
from tests.support.api_client import AUTH, make_client

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url: str) -> Iterator[TestClient]:
    with make_client(redis_url) as test_client:
        yield test_client


def post(client: TestClient, body: dict[str, object], key: str | None = None) -> Response:
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    return client.post("/api/campaigns", json=body, headers=headers)


def campaign_count(client: TestClient) -> int:
    return len(client.get("/api/campaigns", headers=AUTH).json()["campaigns"])


async def test_a_repeat_with_the_same_key_and_body_returns_the_first_campaign(
    client: TestClient,
) -> None:
    body = campaign_json(NUMBERS[:2], concurrency=2)
    first = post(client, body, key="june-reminders-1")
    again = post(client, body, key="june-reminders-1")

    assert first.status_code == again.status_code == 201
    assert again.json()["campaign_id"] == first.json()["campaign_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert campaign_count(client) == 1
    assert len(await campaign_calls(client, first.json()["campaign_id"])) == 2


async def test_the_same_key_with_another_body_is_refused(client: TestClient) -> None:
    first = post(client, campaign_json(NUMBERS[:2]), key="k-1")
    other = post(client, campaign_json(NUMBERS[:3]), key="k-1")

    assert first.status_code == 201
    assert other.status_code == 422
    [error] = other.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert error["type"] == "idempotency_key_reused"
    assert campaign_count(client) == 1


async def test_without_a_key_each_post_is_a_campaign(client: TestClient) -> None:
    body = campaign_json(NUMBERS[:1])
    post(client, body)
    post(client, body)
    assert campaign_count(client) == 2


async def test_a_number_given_twice_is_called_once_and_counted(client: TestClient) -> None:
    numbers = [NUMBERS[0], NUMBERS[1], NUMBERS[0], NUMBERS[2], NUMBERS[1]]
    created = post(client, campaign_json(numbers))

    assert created.status_code == 201
    counts = created.json()["counts"]
    assert (counts["total"], counts["duplicates"], counts["queued"]) == (5, 2, 3)
    call_ids = await campaign_calls(client, created.json()["campaign_id"])
    called = [client.get(f"/api/calls/{c}", headers=AUTH).json()["request"] for c in call_ids]
    assert [c["to_number"] for c in called] == NUMBERS[:3]
    assert [c["caller_name"] for c in called] == ["Person 0", "Person 1", "Person 3"]
