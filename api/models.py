"""What the calls API reads and writes: the checked request body and the call views.

The body is `OutboundCall` (the shared contract) plus the checks only the API can make for a
client: dialable E.164 numbers, a schedule with a timezone, an http(s) callback. A failed
check is a normal 422 naming the field (`loc: ["body", "to_number"]`); whether the persona
exists is checked by the route, against the configured AGENTS_DIR, in the same shape, and so
is what needs the settings: the destination policy (number types and countries, the trunk's
caller ids, a callback to an inside address), in `api.destinations`.
"""

from __future__ import annotations

import re
from datetime import datetime

import phonenumbers
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from dialroom.call_status import CallStatus, StatusEvent
from dialroom.calls import CallRecord, Direction
from dialroom.campaigns import Callee, Campaign, CampaignSpec, CampaignState
from dialroom.dial import DialRequest, OutboundCall
from dialroom.dnc import Listed
from dialroom.templates import is_identifier

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


def variable_names(variables: dict[str, str]) -> dict[str, str]:
    """`variables` when each name can be used as `{name}`; the values are data, taken as is."""
    for name in variables:
        if not is_identifier(name):
            raise PydanticCustomError(
                "variable_name",
                f"variable names are letters, digits and _, not starting with a digit, so a "
                f"greeting or prompt can use them as {{name}}; got {name[:64]!r}",
            )
    return variables


class OutboundCallBody(OutboundCall):
    """`greeting` and `llm_prompt` are taken as they are: only `{name}` of a variable of the
    call is replaced (dialroom.templates); any other brace is said or read as written."""

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, str]) -> dict[str, str]:
        return variable_names(value)

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
        return http_callback(value)


def http_callback(value: str | None) -> str | None:
    """A callback_url (a call's or a campaign's) is an http(s) URL."""
    if value is None:
        return None
    try:
        _HTTP_URL.validate_python(value)
    except ValidationError as err:
        raise PydanticCustomError("url", "callback_url must be an http:// or https:// URL") from err
    return value


class CallAccepted(BaseModel):
    status: CallStatus
    call_id: str


class CallSummary(BaseModel):
    """One call in a listing: live or waiting (from Redis) or finished (from the history)."""

    call_id: str
    direction: Direction = "outbound"
    status: CallStatus | None = Field(default=None, description="Outbound calls; inbound: null")
    outcome: str | None = Field(default=None, description="How the call ended; null while live")
    attempts: int = 1
    persona: str
    to_number: str | None = Field(default=None, description="An outbound call's callee")
    caller_number: str | None = None
    called_number: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    updated_at: float
    campaign_id: str | None = None


class CallPage(BaseModel):
    calls: list[CallSummary]
    next_cursor: str | None = None


class CallDetail(BaseModel):
    """A call, live or finished, inbound or outbound. An inbound call has no status, request
    or status history: its `record` (written when it ended) is the call."""

    call_id: str
    direction: Direction = "outbound"
    persona: str | None = None
    status: CallStatus | None = None
    outcome: str | None = None
    attempts: int
    max_attempts: int
    sip_code: int | None = None
    detail: str | None = None
    updated_at: float
    history: list[StatusEvent] = []
    request: DialRequest | None = None
    record: CallRecord | None = None
    campaign_id: str | None = None
    archived: bool = Field(default=False, description="Read from the call history")


class CalleeBody(Callee):
    @field_validator("to_number")
    @classmethod
    def _to_number(cls, value: str) -> str:
        return e164(value)

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, str]) -> dict[str, str]:
        return variable_names(value)  # a CSV file's column names


class CampaignBody(CampaignSpec):
    """`POST /api/campaigns`: every row checked like a single call's `to_number`."""

    callees: list[CalleeBody] = Field(min_length=1)  # type: ignore[assignment]

    @field_validator("from_number")
    @classmethod
    def _from_number(cls, value: str | None) -> str | None:
        return e164(value) if value is not None else None

    @field_validator("callback_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return http_callback(value)


class CsvSettings(BaseModel):
    """A campaign's settings as query parameters: only with a `text/csv` body."""

    persona: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    from_number: str | None = Field(default=None, max_length=20)
    concurrency: int | None = Field(default=None, ge=1, le=100)
    max_attempts: int | None = Field(default=None, ge=1, le=10)
    days: str | None = Field(default=None, max_length=40, description="mon,tue,...")
    start: str | None = Field(default=None, max_length=5, description="HH:MM")
    end: str | None = Field(default=None, max_length=5, description="HH:MM")
    callback_url: str | None = Field(default=None, max_length=2000)


class CampaignCreated(BaseModel):
    campaign_id: str
    state: CampaignState
    counts: dict[str, int]


class CampaignDetail(Campaign):
    counts: dict[str, int] = Field(
        description="total, do_not_call (rows skipped), waiting (held by the campaign, not yet "
        "released to the dial queue) and how many calls are in each call status"
    )


class CampaignPage(BaseModel):
    campaigns: list[Campaign]
    next_cursor: str | None = None


class DoNotCallBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(description="E.164, e.g. +15551234567")
    reason: str | None = Field(default=None, max_length=200)

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        return e164(value)


class DoNotCallPage(BaseModel):
    numbers: list[Listed]
    total: int
