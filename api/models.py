"""What the calls API reads and writes: the checked request body and the call views.

The body is `OutboundCall` (the shared contract) plus the checks only the API can make for a
client: dialable E.164 numbers, a schedule with a timezone, an http(s) callback. A failed
check is a normal 422 naming the field (`loc: ["body", "to_number"]`); whether the persona
exists is checked by the route, against the configured AGENTS_DIR, in the same shape.
"""

from __future__ import annotations

import re
from datetime import datetime

import phonenumbers
from pydantic import AnyHttpUrl, BaseModel, TypeAdapter, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from dialroom.call_status import CallStatus, StatusEvent
from dialroom.calls import CallRecord
from dialroom.dial import DialRequest, OutboundCall

_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


def e164(value: str) -> str:
    """The number itself when it is E.164 and valid for its country's numbering plan."""
    if _E164.match(value):
        try:
            parsed = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and phonenumbers.is_valid_number(parsed):
            return value
    raise PydanticCustomError(
        "phone_number",
        "not a valid E.164 phone number: '+', country code, number, no spaces (e.g. +14155550123)",
    )


class OutboundCallBody(OutboundCall):
    @field_validator("to_number")
    @classmethod
    def _to_number(cls, value: str) -> str:
        return e164(value)

    @field_validator("from_number")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        return e164(value) if value is not None else None

    @field_validator("schedule_at")
    @classmethod
    def _timezone(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise PydanticCustomError(
                "timezone_required",
                "schedule_at needs a timezone (e.g. 2030-01-31T09:00:00Z)",
            )
        return value

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            _HTTP_URL.validate_python(value)
        except ValidationError as err:
            raise PydanticCustomError(
                "url", "callback_url must be an http:// or https:// URL"
            ) from err
        return value


class CallAccepted(BaseModel):
    status: CallStatus
    call_id: str


class CallSummary(BaseModel):
    call_id: str
    status: CallStatus
    attempts: int
    persona: str
    to_number: str
    updated_at: float


class CallPage(BaseModel):
    calls: list[CallSummary]
    next_cursor: str | None = None


class CallDetail(BaseModel):
    call_id: str
    status: CallStatus
    attempts: int
    max_attempts: int
    sip_code: int | None = None
    detail: str | None = None
    updated_at: float
    history: list[StatusEvent]
    request: DialRequest
    record: CallRecord | None = None
