"""start.py's settings: which ports the local stack uses and how many workers it runs."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, field_validator

from dialroom.paths import ROOT
from dialroom.settings import CommonSettings, SettingsError
from stack.ports import PortRange, StackPorts


class StackSettings(CommonSettings):
    num_agents: int = Field(default=1, ge=1, le=32, description="Worker processes to run")
    run_dir: Path = Field(default=ROOT / ".run", description="Logs, rendered configs, state")
    redis_port: int = Field(default=6379, description="Dialroom's Redis: calls, dial queue")
    livekit_redis_port: int = Field(
        default=6380, description="LiveKit's own Redis: livekit-server and livekit-sip's bus"
    )
    livekit_port: int = 7880
    livekit_rtc_tcp_port: int = 7881
    livekit_rtc_udp_ports: str = Field(default="50000-50100", pattern=r"^\d+-\d+$")
    sip_port: int = 5060
    sip_rtp_ports: str = Field(default="10000-10100", pattern=r"^\d+-\d+$")
    sip_health_port: int = 8089
    api_port: int = 8000
    worker_port: int = Field(default=8081, description="First worker's port; +1 per worker")
    worker_drain_s: float = Field(
        default=60.0, ge=0, description="On stop, how long workers may finish running calls"
    )
    sip_dev_outbound_address: str = Field(
        default="127.0.0.1:5070", description="Where the dev outbound trunk sends calls"
    )
    redis_password: str = Field(
        default="", description="Password of both Redis servers; required outside --dev"
    )

    @field_validator("redis_password")
    @classmethod
    def _url_safe(cls, value: str) -> str:
        # Written as is into Redis URLs (compose cannot escape it), so no other characters.
        if value and not re.fullmatch(r"[A-Za-z0-9_-]{16,}", value):
            raise ValueError("must be 16 or more letters, digits, - or _")
        return value

    def require_redis_password(self) -> None:
        if not self.redis_password:
            raise SettingsError(
                "REDIS_PASSWORD not set: put a password of 16+ letters, digits, - or _ in .env "
                "(or run `python start.py up --dev`, where Redis has none)"
            )

    def ports(self) -> StackPorts:
        return StackPorts(
            redis=self.redis_port,
            livekit_redis=self.livekit_redis_port,
            livekit=self.livekit_port,
            livekit_rtc_tcp=self.livekit_rtc_tcp_port,
            livekit_rtc_udp=_range(self.livekit_rtc_udp_ports),
            sip=self.sip_port,
            sip_rtp=_range(self.sip_rtp_ports),
            sip_health=self.sip_health_port,
            api=self.api_port,
            worker_base=self.worker_port,
        )


def _range(text: str) -> PortRange:
    start, end = (int(part) for part in text.split("-"))
    return PortRange(start, end)
