"""What a call was dispatched with, parsed once at the top of the entrypoint.

An outbound dispatch carries a `DialRequest` (the dispatcher wrote it); an inbound one carries
what its SIP dispatch rule hands every call, an `InboundDispatch`. Everything after this reads
the typed contract, never the raw metadata. A broken inbound dispatch (a hand-made rule with
bad metadata) must not cost the caller their call: it is logged in one line and the call is
answered with the default persona. A broken outbound one cannot be dialled: it is refused.
A browser call (`BrowserDispatch`, made by the API for one page) is refused the same way.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError

from dialroom.browser_call import DIRECTION_BROWSER, BrowserDispatch
from dialroom.dial import DIRECTION_OUTBOUND, DialRequest, InboundDispatch

logger = logging.getLogger("dialroom.worker")


def read_dispatch(raw: str | None) -> DialRequest | InboundDispatch | BrowserDispatch | None:
    """The call's contract; None for an outbound or browser dispatch that is not valid."""
    data = _json_object(raw)
    if data.get("direction") == DIRECTION_BROWSER:
        try:
            return BrowserDispatch.model_validate(data)
        except ValidationError as err:
            logger.error("browser dispatch refused, not a valid browser call: %s", _fields(err))
            return None
    if _outbound(data):
        try:
            return DialRequest.model_validate(data)
        except ValidationError as err:
            logger.error("outbound dispatch refused, not a valid dial request: %s", _fields(err))
            return None
    try:
        return InboundDispatch.model_validate(data)
    except ValidationError as err:
        logger.error(
            "inbound dispatch metadata is invalid (%s): answering with the default persona",
            _fields(err),
        )
        return InboundDispatch()


def is_outbound(raw: str | None) -> bool:
    """A call to dial, told before the job is accepted; valid or not, the entrypoint says."""
    try:
        data = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and _outbound(data)


def _outbound(data: dict[str, Any]) -> bool:
    return data.get("direction") == DIRECTION_OUTBOUND or "to_number" in data


def _json_object(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        logger.error("dispatch metadata is not a JSON object: answering with the default persona")
        return {}
    return data


def _fields(err: ValidationError) -> str:
    """Which fields are wrong and why, without their values (a value may be a number)."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or 'metadata'}: {e['msg']}"
        for e in err.errors()
    )
