"""What a phone process reports: the calls it placed or answered, as one JSON document.

The phone runs in its own process (`callcheck.phone`); these types are the contract between
it and its caller, written by `callcheck.pjsua_phone` and read back by `PhoneProcess.result`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal


class PhoneError(RuntimeError):
    """The phone process died, hung, or wrote no result."""


@dataclass(kw_only=True)
class Play:
    file: Path
    duration_s: float
    started_at: float  # time.time() when the player was connected to the call


@dataclass(kw_only=True)
class Invite:
    request_uri: str
    from_uri: str
    to_uri: str
    call_id: str
    source: str  # ip:port the INVITE came from
    received_at: float


@dataclass(kw_only=True)
class CallResult:
    """One call as the phone saw it; timestamps are time.time(), None if it never happened."""

    status_code: int = 0  # final answer to the INVITE: 200, 486, 404, 487...
    reason: str = ""
    connected: bool = False
    invite_sent_at: float | None = None  # dial mode only
    ringing_at: float | None = None  # first 18x (dial) or our 180 (answer)
    confirmed_at: float | None = None
    media_active_at: float | None = None  # the recording starts here
    plays: list[Play] = field(default_factory=list)
    dtmf_sent: list[tuple[str, float]] = field(default_factory=list)
    dtmf_received: list[tuple[str, float]] = field(default_factory=list)  # RFC 2833, one per key
    transferred_to: str | None = None  # a REFER's target; the phone accepted it and called there
    disconnected_at: float | None = None
    remote_hangup: bool = False  # a connected call was ended by the far end
    recording: Path | None = None
    rtp_local: str | None = None  # ip:port of the phone's audio RTP (benches tap it on loopback)
    receive_stats: dict[str, float] = field(default_factory=dict)  # jitter buffer, RTCP; at the end


@dataclass(kw_only=True)
class PhoneResult:
    mode: Literal["dial", "answer"]
    local_port: int
    calls: list[CallResult] = field(default_factory=list)
    invites: list[Invite] = field(default_factory=list)  # answer mode: every new INVITE
    error: str | None = None

    @property
    def call(self) -> CallResult:
        """The first (in dial mode, the only) call."""
        if not self.calls:
            raise PhoneError(f"phone made no call: {self.error or 'no INVITE'}")
        return self.calls[0]

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, indent=2)

    @classmethod
    def from_json(cls, text: str) -> PhoneResult:
        data = json.loads(text)
        data["calls"] = [_call_from_dict(c) for c in data["calls"]]
        data["invites"] = [Invite(**i) for i in data["invites"]]
        return cls(**data)


def _call_from_dict(data: dict[str, Any]) -> CallResult:
    plays = [Play(**{**p, "file": Path(p["file"])}) for p in data.pop("plays")]
    dtmf = [(d, t) for d, t in data.pop("dtmf_sent")]
    data["dtmf_received"] = [(d, t) for d, t in data.pop("dtmf_received", [])]
    recording = data.pop("recording")
    return CallResult(
        **data, plays=plays, dtmf_sent=dtmf, recording=Path(recording) if recording else None
    )
