"""The console's session cookie: signed, expiring, tied to a key still accepted."""

from __future__ import annotations

import pytest

from api.console import session as sessions
from api.deps import fingerprint

pytestmark = pytest.mark.unit

KEY = "key-one-0123456789-abcdefghijklmnop"
OTHER = "key-two-0123456789-abcdefghijklmnop"
NOW = 1_800_000_000.0


def _cookie(api_key: str = KEY, accepted: tuple[str, ...] = (KEY, OTHER)) -> str:
    session = sessions.new_session(api_key, now=NOW)
    return sessions.encode(session, sessions.signing_key(accepted))


def test_a_cookie_decodes_to_its_session_and_never_holds_the_key() -> None:
    cookie = _cookie()
    accepted = (KEY, OTHER)
    found = sessions.decode(
        cookie, sessions.signing_key(accepted), accepted_keys=accepted, now=NOW + 1
    )
    assert found is not None and found.key_fingerprint == fingerprint(KEY)
    assert KEY not in cookie and len(found.csrf) >= 32


def test_a_changed_cookie_is_refused() -> None:
    body, _, mac = _cookie().partition(".")
    forged = sessions.encode(sessions.new_session(OTHER, now=NOW), b"guessed-signing-key")
    accepted = (KEY, OTHER)
    key = sessions.signing_key(accepted)
    for cookie in (f"{body}x.{mac}", f"{body}.{mac[:-2]}", forged, body, ""):
        assert sessions.decode(cookie, key, accepted_keys=accepted, now=NOW) is None


def test_a_session_expires() -> None:
    accepted = (KEY, OTHER)
    key = sessions.signing_key(accepted)
    late = NOW + sessions.LIFETIME_S + 1
    assert sessions.decode(_cookie(), key, accepted_keys=accepted, now=late) is None


def test_a_session_ends_when_its_key_is_no_longer_accepted() -> None:
    cookie = _cookie(OTHER)
    # the same signing key, but OTHER removed: refused by its fingerprint
    key = sessions.signing_key((KEY, OTHER))
    assert sessions.decode(cookie, key, accepted_keys=(KEY,), now=NOW) is None
    # a new key set signs with a new key: every old cookie is refused
    new_key = sessions.signing_key((KEY,))
    assert sessions.decode(_cookie(KEY), new_key, accepted_keys=(KEY,), now=NOW) is None


def test_tokens_match_only_whole_and_never_empty() -> None:
    assert sessions.same_token("abc", "abc")
    assert not sessions.same_token(None, "abc")
    assert not sessions.same_token("ab", "abc")
    assert not sessions.same_token("", "")  # no login cookie and an empty field: refused
