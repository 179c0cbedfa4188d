"""The API's own safety against a real Redis: keys long enough outside development mode, the dev
key only on loopback, failed authentication limited per client address, and the destination
policy (number types, countries, the trunk's caller ids, callback addresses) as 422s naming
the field and why."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from httpx import Response

from api.destinations import CallerIds, DestinationGate
from api.main import create_app
from api.settings import ApiSettings
from dialroom.paths import AGENTS_DIR
from dialroom.settings import DEV_DIALROOM_API_KEY, SettingsError
from tests.support.api_client import AUTH, CALL, KEY, make_client

pytestmark = pytest.mark.integration

TRUNK_NUMBERS = {"dialroom-dev-out": ("+14155550100",), "shop-out": ("+14155550177",)}


class TrunkNumbers(CallerIds):
    """The LiveKit server's answer, fixed: the default trunk shows +14155550100."""

    async def fetch(self) -> dict[str, tuple[str, ...]]:
        return dict(TRUNK_NUMBERS)


@contextmanager
def trunk_client(redis_url: str, **overrides: object) -> Iterator[TestClient]:
    with make_client(redis_url, **overrides) as test_client:
        settings = test_client.app.state.settings  # type: ignore[attr-defined]
        gate = DestinationGate(settings, TrunkNumbers(settings))
        test_client.app.state.destinations = gate  # type: ignore[attr-defined]
        yield test_client


@pytest.fixture
def client(redis_url: str) -> Iterator[TestClient]:
    with trunk_client(redis_url) as test_client:
        yield test_client


def call(client: TestClient, **changes: object) -> Response:
    return client.post("/api/outbound-call", json={**CALL, **changes}, headers=AUTH)


def refused(response: Response, loc: list[str | int]) -> dict[str, object]:
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    [error] = [e for e in errors if e["loc"] == loc]
    return dict(error)


# --- keys ---


def test_a_short_key_stops_the_api_outside_development_mode(redis_url: str) -> None:
    with pytest.raises(SettingsError, match=r"API_KEYS: key 2 has 5 characters.*at least 32"):
        create_app(ApiSettings(redis_url=redis_url, api_keys=f"{KEY},short"))


def test_a_short_key_is_fine_in_development_mode_on_loopback(redis_url: str) -> None:
    with make_client(redis_url, api_keys="short", dialroom_dev=True) as development:
        assert development.get("/api/calls", headers={"X-API-Key": "short"}).status_code == 200


def test_development_mode_says_so_at_start_up(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), make_client(redis_url, dialroom_dev=True):
        pass
    assert any(
        "DEVELOPMENT MODE" in r.message and DEV_DIALROOM_API_KEY in r.message
        for r in caplog.records
    )


def test_the_dev_key_is_refused_when_the_api_listens_beyond_loopback(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    dev = {"X-API-Key": DEV_DIALROOM_API_KEY}
    with (
        caplog.at_level(logging.WARNING),
        make_client(redis_url, dialroom_dev=True, api_host="0.0.0.0") as exposed,
    ):
        assert exposed.get("/api/calls", headers=dev).status_code == 401
        assert exposed.get("/api/calls", headers=AUTH).status_code == 200
    assert any("the dev key is refused" in r.message for r in caplog.records)


def test_failed_authentication_is_limited_per_client_address(redis_url: str) -> None:
    settings = ApiSettings(redis_url=redis_url, api_keys=KEY, auth_failures_per_minute=3)
    app = create_app(settings)
    wrong = {"X-API-Key": "x" * 40}
    with TestClient(app, client=("203.0.113.7", 5000)) as guesser:
        assert [guesser.get("/api/calls", headers=wrong).status_code for _ in range(3)] == [401] * 3
        blocked = guesser.get("/api/calls", headers=AUTH)  # the right key, too late
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) >= 1
        assert blocked.json()["detail"][0]["type"] == "auth_rate_limited"
    with TestClient(app, client=("203.0.113.8", 5000)) as neighbour:
        assert neighbour.get("/api/calls", headers=AUTH).status_code == 200


# --- destinations ---


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("+19005550123", "premium-rate"),
        ("+33810123456", "shared-cost"),
        ("+8816123456789", "satellite"),
        ("+870772123456", "satellite"),
        ("+447012345678", "personal"),
        ("+445512345678", "UAN"),
    ],
)
def test_a_costly_or_forwarding_number_is_a_422_naming_why(
    client: TestClient, number: str, why: str
) -> None:
    response = call(client, to_number=number)
    error = refused(response, ["body", "to_number"])
    assert error["type"] == "destination_refused" and why in str(error["msg"])


def test_allowed_countries_and_types_are_settings(redis_url: str) -> None:
    with make_client(redis_url, destination_countries="GB") as uk_only:
        response = call(uk_only)  # a US number
        assert "numbers in US are not called" in str(
            refused(response, ["body", "to_number"])["msg"]
        )
    with make_client(redis_url, destination_types="premium_rate,fixed_line_or_mobile") as any_type:
        assert call(any_type, to_number="+19005550123").status_code == 202


def test_a_campaign_names_each_refused_row(client: TestClient) -> None:
    rows = ["+14155550101", "+19005550123", "+14155550102", "+8816123456789"]
    body = {"persona": "demo", "callees": [{"to_number": n} for n in rows]}
    response = client.post("/api/campaigns", json=body, headers=AUTH)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert [e["loc"] for e in errors] == [
        ["body", "callees", 1, "to_number"],
        ["body", "callees", 3, "to_number"],
    ]
    assert "premium-rate" in errors[0]["msg"] and "satellite" in errors[1]["msg"]


def test_from_number_must_be_one_of_the_trunks_numbers(client: TestClient) -> None:
    foreign = call(client, from_number="+14155550199")
    error = refused(foreign, ["body", "from_number"])
    assert error["type"] == "caller_id_refused"
    assert "not a number of the outbound trunk dialroom-dev-out" in str(error["msg"])
    own = call(client, from_number="+14155550100")
    assert own.status_code == 202


def test_from_number_is_checked_against_the_personas_own_trunk(
    redis_url: str, tmp_path: Path
) -> None:
    persona = yaml.safe_load((AGENTS_DIR / "demo.yaml").read_text())
    persona["outbound"] = {**(persona.get("outbound") or {}), "trunk": "shop-out"}
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(persona))
    with trunk_client(redis_url, agents_dir=tmp_path) as shop:
        assert call(shop, from_number="+14155550177").status_code == 202
        default_number = call(shop, from_number="+14155550100")
        error = refused(default_number, ["body", "from_number"])
        assert "outbound trunk shop-out (its numbers: +14155550177)" in str(error["msg"])


def test_a_campaign_from_number_is_checked_like_a_call(client: TestClient) -> None:
    body = {
        "persona": "demo",
        "from_number": "+14155550199",
        "callees": [{"to_number": "+14155550101"}],
    }
    response = client.post("/api/campaigns", json=body, headers=AUTH)
    assert refused(response, ["body", "from_number"])["type"] == "caller_id_refused"


def test_from_number_is_503_while_livekit_cannot_say(redis_url: str) -> None:
    with make_client(redis_url, livekit_url="ws://127.0.0.1:9") as client:  # nothing listens
        response = call(client, from_number="+14155550100")
    assert response.status_code == 503
    assert response.json()["detail"][0]["loc"] == ["body", "from_number"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/hook",
        "http://100.64.0.1/hook",
        "http://[::1]:9000/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_a_callback_url_to_an_inside_address_is_a_422(client: TestClient, url: str) -> None:
    response = call(client, callback_url=url)
    error = refused(response, ["body", "callback_url"])
    assert error["type"] == "callback_refused" and "public addresses" in str(error["msg"])


def test_a_callback_url_to_a_public_host_or_loopback_in_development_mode_is_accepted(
    client: TestClient, redis_url: str
) -> None:
    assert call(client, callback_url="https://hooks.example.com/dialroom").status_code == 202
    with make_client(redis_url, dialroom_dev=True) as development:
        assert call(development, callback_url="http://127.0.0.1:8080/hook").status_code == 202
