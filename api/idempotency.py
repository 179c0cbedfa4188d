"""The `Idempotency-Key` request header, one definition for every route that creates
something: a client that retries a POST sends the same key, and gets the first result back
instead of a second call or campaign (the stores: `dialroom.dial_queue`,
`dialroom.campaign_intake`)."""

from __future__ import annotations

from typing import Any

from fastapi import Header


def idempotency_header(description: str) -> Any:
    """The header's parameter, for `Annotated[str | None, idempotency_header(...)]`:
    optional, printable ASCII, up to 255 characters."""
    return Header(
        alias="Idempotency-Key",
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description=description,
    )
