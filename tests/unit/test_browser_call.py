"""Browser calls' contract and credentials: the `BrowserDispatch` the API writes and the worker
parses once, the call state it gives (no numbers), the page's LiveKit token (one room, one
identity, the microphone alone, short-lived) and the talk page's Content-Security-Policy."""

from __future__ import annotations

import base64
import json
import logging
import time

import pytest
from livekit import api

from api.browser_call import TOKEN_TTL, browser_token
from api.console.pages import HEADERS
from api.console.talk import page_headers
from api.settings import ApiSettings
from dialroom.browser_call import BrowserDispatch
from worker.call_state import new_call_state
from worker.dispatch import read_dispatch

KEY, SECRET = "browserkey", "a-secret-for-browser-call-tests-0123456789"


def test_a_browser_dispatch_is_parsed_once_into_a_call_without_numbers() -> None:
    sent = BrowserDispatch(persona="demo")
    parsed = read_dispatch(sent.dispatch_metadata())
    assert parsed == sent
    assert isinstance(parsed, BrowserDispatch)
    state = new_call_state(parsed, room=parsed.room_name, default_persona="other")
    assert (state.call_id, state.persona, state.direction) == (sent.call_id, "demo", "browser")
    assert state.caller_number is None and state.called_number is None
    record = state.record()
    assert record.direction == "browser" and record.memory_keep_days is None


def test_browser_rooms_and_identities_differ_per_call_and_from_sip_rooms() -> None:
    first, second = BrowserDispatch(persona="demo"), BrowserDispatch(persona="demo")
    assert first.room_name != second.room_name and first.participant != second.participant
    assert not first.room_name.startswith("call-")  # the dispatcher's inbound watch skips it


@pytest.mark.parametrize(
    "metadata",
    [
        {"direction": "browser"},  # no persona
        {"direction": "browser", "persona": "../etc/passwd"},
        {"direction": "browser", "persona": "demo", "to_number": "+15551234567"},
    ],
)
def test_a_broken_browser_dispatch_is_refused_not_answered_as_default(
    metadata: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="dialroom.worker"):
        assert read_dispatch(json.dumps(metadata)) is None
    assert "browser dispatch refused" in caplog.text


def test_the_token_joins_one_room_as_one_identity_with_the_microphone_alone() -> None:
    settings = ApiSettings(livekit_api_key=KEY, livekit_api_secret=SECRET, api_keys="k" * 32)
    dispatch = BrowserDispatch(persona="demo")
    token = browser_token(settings, dispatch)
    claims = api.TokenVerifier(KEY, SECRET).verify(token)
    assert claims.identity == dispatch.participant
    grants = claims.video
    assert grants is not None and grants.room_join and grants.room == dispatch.room_name
    assert grants.can_publish_sources == ["microphone"] and grants.can_publish_data is False
    assert not (grants.room_admin or grants.room_create or grants.room_list or grants.agent)
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["exp"] - time.time() <= TOKEN_TTL.total_seconds() <= 300


@pytest.mark.parametrize(
    ("url", "origins"),
    [
        ("ws://127.0.0.1:7880", "ws://127.0.0.1:7880 http://127.0.0.1:7880"),
        ("wss://lk.example.test", "wss://lk.example.test https://lk.example.test"),
        ("https://lk.example.test/", "wss://lk.example.test https://lk.example.test"),
    ],
)
def test_the_talk_page_may_connect_to_livekit_and_nothing_else_changes(
    url: str, origins: str
) -> None:
    headers = page_headers(url)
    csp = headers["Content-Security-Policy"]
    assert f"connect-src 'self' {origins};" in csp
    console = HEADERS["Content-Security-Policy"]
    assert csp.replace(f" {origins}", "") == console
    assert {k: v for k, v in headers.items() if k != "Content-Security-Policy"} == {
        k: v for k, v in HEADERS.items() if k != "Content-Security-Policy"
    }
