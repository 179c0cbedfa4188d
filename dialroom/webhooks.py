"""The status webhook contract: what a call's `callback_url` receives and how it is signed.

Every status change of a call is POSTed, in order, as one JSON `WebhookEvent`. The body is
signed with HMAC-SHA256 over `<timestamp>.<raw body>` using `WEBHOOK_SECRET`, the scheme
Stripe and Slack made familiar: the timestamp is inside the signed text, so a captured
request cannot be replayed later with a fresh timestamp, and a receiver rejects old ones.

    X-Dialroom-Timestamp: 1767225600
    X-Dialroom-Signature: v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
    X-Dialroom-Event: <call_id>:<sequence>

`verify` is what a receiver runs (the README shows the same in a few lines of Python).
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import BaseModel

from dialroom.call_status import CallStatus

TIMESTAMP_HEADER = "X-Dialroom-Timestamp"
SIGNATURE_HEADER = "X-Dialroom-Signature"
EVENT_HEADER = "X-Dialroom-Event"  # call_id:sequence, the same for every retry of an event
SCHEME = "v1"
TOLERANCE_S = 300  # a receiver should refuse timestamps further than this from its clock


class WebhookEvent(BaseModel):
    """One status change. `sequence` counts a call's events from 1; retries repeat it."""

    call_id: str
    persona: str
    sequence: int
    status: CallStatus
    attempt: int
    sip_code: int | None = None
    detail: str | None = None
    at: float

    @property
    def event_id(self) -> str:
        return f"{self.call_id}:{self.sequence}"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex>`: HMAC-SHA256 with `secret` over `<timestamp>.<raw body>`."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signed_headers(secret: str, body: bytes, *, timestamp: int, event_id: str) -> dict[str, str]:
    """Headers for one delivery try; with no secret, the request is sent unsigned."""
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_HEADER: event_id,
    }
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return headers


def verify(
    secret: str,
    body: bytes,
    *,
    timestamp: str | None,
    signature_header: str | None,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> bool:
    """True when the signature is `secret`'s over this body and timestamp, and the timestamp
    is within `tolerance_s` of `now`. The header may list several `v1=` values (comma
    separated); any one matching is enough."""
    if not timestamp or not signature_header or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    expected = signature(secret, int(timestamp), body)
    offered = [part.strip() for part in signature_header.split(",")]
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)
