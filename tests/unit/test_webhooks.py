"""Webhook signatures as a receiver checks them, and the retry schedule."""

from __future__ import annotations

import pytest

from dialroom.webhooks import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    signed_headers,
    verify,
)
from dispatcher.webhooks import retry_delay

pytestmark = pytest.mark.unit

SECRET = "whsec_test"
BODY = b'{"call_id":"abc"}'
NOW = 1767225600


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    # Pinned: receivers in other languages implement exactly this.
    expected = "v1=69a6fd48b5e6de28083e79e8d10bf866f6bbefad2438aa42521b6f48509d128d"
    assert signature(SECRET, NOW, BODY) == expected


def test_signed_headers_verify_with_the_same_secret() -> None:
    headers = signed_headers(SECRET, BODY, timestamp=NOW, event_id="abc:1")
    assert headers[EVENT_HEADER] == "abc:1"
    assert verify(
        SECRET,
        BODY,
        timestamp=headers[TIMESTAMP_HEADER],
        signature_header=headers[SIGNATURE_HEADER],
        now=NOW + 5,
    )


def test_a_wrong_secret_a_changed_body_or_a_moved_timestamp_fail() -> None:
    good = signature(SECRET, NOW, BODY)
    assert not verify("other", BODY, timestamp=str(NOW), signature_header=good, now=NOW)
    assert not verify(SECRET, BODY + b" ", timestamp=str(NOW), signature_header=good, now=NOW)
    assert not verify(SECRET, BODY, timestamp=str(NOW + 1), signature_header=good, now=NOW)


def test_an_old_timestamp_is_refused_even_with_a_good_signature() -> None:
    good = signature(SECRET, NOW, BODY)
    assert not verify(SECRET, BODY, timestamp=str(NOW), signature_header=good, now=NOW + 301)


def test_missing_headers_fail() -> None:
    good = signature(SECRET, NOW, BODY)
    assert not verify(SECRET, BODY, timestamp=None, signature_header=good, now=NOW)
    assert not verify(SECRET, BODY, timestamp=str(NOW), signature_header=None, now=NOW)
    assert not verify(SECRET, BODY, timestamp="soon", signature_header=good, now=NOW)


def test_any_listed_signature_may_match_while_secrets_rotate() -> None:
    both = f"{signature('old', NOW, BODY)}, {signature(SECRET, NOW, BODY)}"
    assert verify(SECRET, BODY, timestamp=str(NOW), signature_header=both, now=NOW)


def test_without_a_secret_nothing_is_signed() -> None:
    headers = signed_headers("", BODY, timestamp=NOW, event_id="abc:1")
    assert SIGNATURE_HEADER not in headers


def test_retries_back_off_exponentially() -> None:
    assert [retry_delay(1.0, tries) for tries in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 16]
