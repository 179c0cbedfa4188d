"""The dispatcher process's settings (environment / `.env`), validated at start-up."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from dialroom.outbound_http import OutboundPolicy
from dialroom.settings import CommonSettings


class DispatcherSettings(CommonSettings):
    max_concurrent_calls: int = Field(
        default=10, ge=1, description="Calls dialing, ringing or answered at once, all workers"
    )
    wait_for_free_line: bool = Field(
        default=True,
        description="Dispatch a call only while some worker has a free line (else: caps only)",
    )
    dispatch_concurrency: int = Field(
        default=1, ge=1, le=64, description="Calls dispatched to LiveKit at once (1: in turn)"
    )
    retry_delay_s: float = Field(
        default=30.0, ge=0, description="Wait before the next attempt of a busy / no-answer call"
    )
    dial_timeout_s: float = Field(
        default=180.0, gt=0, description="A call dialing this long since its last update fails"
    )
    redispatch_after_s: float = Field(
        default=15.0,
        gt=0,
        description="A dialing call's dispatch no worker took this long is dispatched again",
    )
    inbound_wait_s: float = Field(
        default=15.0,
        gt=0,
        description="An inbound call no worker took this long is ended unanswered (486 Busy "
        "Here); keep it well under the carrier's ring timeout",
    )
    answered_timeout_s: float = Field(
        default=3600.0, gt=0, description="An answered call with no end reported this long fails"
    )
    room_empty_timeout_s: int = Field(
        default=120, ge=1, description="LiveKit closes a call's room left empty this long"
    )
    claim_idle_s: float = Field(
        default=30.0, gt=0, description="Take over a queue entry another dispatcher held this long"
    )
    poll_interval_s: float = Field(
        default=0.5, gt=0, le=10, description="How often due calls and call statuses are checked"
    )
    dispatcher_health_file: str = Field(
        default="",
        description="File rewritten while every dispatcher loop goes on; its age is the health "
        "(`<file>.json` names a stuck loop)",
    )
    dispatcher_name: str = Field(
        default="", description="Queue consumer name, one per dispatcher (default: host name)"
    )
    sip_outbound_trunk: str = Field(
        default="dialroom-dev-out", description="Outbound SIP trunk the workers dial through"
    )
    max_concurrent_per_trunk: int = Field(
        default=0, ge=0, description="Calls live at once per outbound trunk (0: no cap of its own)"
    )
    webhook_secret: str = Field(
        default="", description="Signs callback_url requests (HMAC-SHA256); empty: unsigned"
    )
    webhook_url: str = Field(
        default="",
        description="Receives call.started and call.ended for every call, signed like "
        "callback_url (WEBHOOK_SECRET); empty: no call events",
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=30, description="Tries per webhook or call event before it is given up"
    )
    webhook_backoff_s: float = Field(
        default=1.0, gt=0, description="Wait after a webhook's first failed try; doubles per try"
    )
    call_record_ttl_s: int = Field(
        default=3600,
        ge=1,
        description="A finished call's Redis keys expire this long after it is in the history",
    )
    retention_days: float = Field(
        default=90, gt=0, description="Calls older than this are pruned from the history daily"
    )
    history_archive: bool = Field(
        default=True,
        description="Move finished calls into the call history; false only to measure what "
        "that costs (`bench.history_cost`): finished calls then stay in Redis, unpruned",
    )

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str, info: ValidationInfo) -> str:
        """An http(s) URL whose host, if an address literal, the outbound policy allows."""
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        policy = OutboundPolicy(
            allow_loopback=bool(info.data.get("dialroom_dev")),
            allowed_hosts=frozenset(
                h.strip().lower() for h in info.data.get("outbound_allowed_hosts", "").split(",")
            ),
        )
        if (why := policy.literal_refusal(parts.hostname)) is not None:
            raise ValueError(why)
        return value

    @property
    def consumer(self) -> str:
        return self.dispatcher_name or socket.gethostname()
