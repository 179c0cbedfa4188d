"""The call contracts: what a worker is handed with each call, typed both ways.

Outbound: one `DialRequest`, from the API through the queue and the dispatcher to the worker,
serialised once (JSON) and validated again on every side. Inbound: `InboundDispatch`, the
metadata a SIP dispatch rule hands the worker with each call it routes (`sip/provision.py`,
`sip/objects.py`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DIRECTION_OUTBOUND = "outbound"
CALL_ID_PATTERN = r"^[A-Za-z0-9_-]{6,64}$"


class OutboundCall(BaseModel):
    """What a client asks for (the body of `POST /api/outbound-call`): who to call, as whom."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to_number: str = Field(description="E.164, e.g. +15551234567")
    persona: str
    caller_name: str | None = None
    from_number: str | None = None
    greeting: str | None = Field(default=None, description="Overrides the persona's greeting")
    llm_prompt: str | None = Field(default=None, description="Extra instructions for this call")
    variables: dict[str, str] = {}
    schedule_at: datetime | None = None
    callback_url: str | None = None
    max_attempts: int = Field(default=1, ge=1, le=10)


class DialRequest(OutboundCall):
    """An accepted `OutboundCall` with its id and attempt: what the queue and dispatch carry."""

    call_id: str = Field(pattern=CALL_ID_PATTERN, description="Idempotency key end to end")
    attempt: int = Field(default=1, ge=1)

    @property
    def room_name(self) -> str:
        """One room per call id: a second dispatch of the same call lands in the same room."""
        return f"call-{self.call_id}"

    def dispatch_metadata(self) -> str:
        """What the agent dispatch carries; the worker reads it back with `from_metadata`."""
        return self.model_dump_json()

    @classmethod
    def from_metadata(cls, raw: str) -> DialRequest:
        return cls.model_validate_json(raw)


def new_call_id() -> str:
    """A random call id: it says nothing about who calls (no number, no room name)."""
    return uuid.uuid4().hex


class InboundDispatch(BaseModel):
    """What a SIP dispatch rule hands the worker with an inbound call (its agent metadata).

    A rule's metadata is the same for every call it routes, so it leaves `call_id` out and
    each call gets a fresh random one when the worker parses it, once, at the start (a
    dispatch made for one call, by a test or a tool, may name its own).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    direction: Literal["inbound"] = "inbound"
    persona: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="The trunk's default persona, for a number no persona lists",
    )
    rule: str | None = Field(
        default=None,
        max_length=128,
        description="A sip/telephony.yaml rule's name: without `persona`, no default",
    )
    call_id: str = Field(default_factory=new_call_id, pattern=CALL_ID_PATTERN)

    def default_persona(self, fallback: str) -> str | None:
        """The persona for a number no persona lists: the rule's, else none for a rule from
        telephony.yaml (the number is not in service), else `fallback` (DEFAULT_PERSONA)."""
        if self.persona:
            return self.persona
        return None if self.rule is not None else fallback

    @classmethod
    def from_metadata(cls, raw: str | None) -> InboundDispatch:
        return cls.model_validate_json(raw or "{}")
