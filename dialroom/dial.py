"""The outbound call contract: one typed `DialRequest`, from the API through the queue and the
dispatcher to the worker. Serialised once (JSON) and validated again on every side."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

DIRECTION_OUTBOUND = "outbound"


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

    call_id: str = Field(pattern=r"^[A-Za-z0-9_-]{6,64}$", description="Idempotency key end to end")
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
