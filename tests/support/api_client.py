"""The API in-process for integration tests: a `TestClient` of `create_app` on a real Redis,
with two production-length keys (not development mode), and the requests many tests send."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings

KEY = "test-key-0123456789-abcdefghijklmnop"
OTHER_KEY = "second-key-abcdefghijklmnopqrstuvwxyz"
AUTH = {"X-API-Key": KEY}
CALL = {"to_number": "+14155550123", "persona": "demo", "caller_name": "Sam"}


def make_client(redis_url: str, **overrides: object) -> TestClient:
    fields: dict[str, object] = {
        "redis_url": redis_url,
        "api_keys": f"{KEY},{OTHER_KEY}",
        "dialroom_dev": False,
        **overrides,
    }
    settings = ApiSettings(**fields)  # type: ignore[arg-type]
    return TestClient(create_app(settings))


def post_csv(client: TestClient, body: str, params: Mapping[str, object]) -> httpx.Response:
    """POST /api/campaigns with a CSV body; campaign settings go in the query."""
    headers = {**AUTH, "Content-Type": "text/csv"}
    return client.post("/api/campaigns", params=dict(params), content=body, headers=headers)
