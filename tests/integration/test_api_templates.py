"""Braces from an API client are data: a greeting or prompt with any braces is accepted and
stored as sent (the call says them as written); a variable name that could never be a
`{name}` is a 422 naming `variables`, for a single call and for a campaign's CSV column."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.support.api_client import AUTH, CALL, make_client, post_csv

pytestmark = pytest.mark.integration

BRACES = "Hi {caller_name}, your code is {x and {y:>99999999} {a.__class__} {0[0]} }{"


@pytest.fixture
def client(redis_url: str) -> Iterator[TestClient]:
    with make_client(redis_url) as test_client:
        yield test_client


def test_a_greeting_and_prompt_with_any_braces_are_accepted_as_sent(client: TestClient) -> None:
    body = {**CALL, "greeting": BRACES, "llm_prompt": BRACES, "variables": {"x": "{y}"}}
    response = client.post("/api/outbound-call", json=body, headers=AUTH)
    assert response.status_code == 202, response.text
    call = client.get(f"/api/calls/{response.json()['call_id']}", headers=AUTH).json()
    assert call["request"]["greeting"] == BRACES and call["request"]["llm_prompt"] == BRACES
    assert call["request"]["variables"] == {"x": "{y}"}


@pytest.mark.parametrize("name", ["order id", "2nd", "a.b", "{x}", "", "über-name"])
def test_a_variable_name_that_is_not_an_identifier_is_a_422(client: TestClient, name: str) -> None:
    body = {**CALL, "variables": {name: "42"}}
    response = client.post("/api/outbound-call", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "variables"] and error["type"] == "variable_name"
    assert client.get("/api/calls", headers=AUTH).json()["calls"] == [], "nothing was queued"


def test_a_csv_column_that_cannot_be_a_variable_is_a_422_naming_the_row(
    client: TestClient,
) -> None:
    body = "to_number,caller_name,appointment day\n+14155550101,Sam,on Thursday\n"
    response = post_csv(client, body, {"persona": "reminder"})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "callees", 0, "variables"]
    assert "'appointment day'" in error["msg"]
