"""The worker process's settings (environment / `.env`), validated at start-up."""

from __future__ import annotations

from pydantic import Field

from dialroom.settings import CommonSettings


class WorkerSettings(CommonSettings):
    worker_port: int = Field(default=8081, description="Health/status HTTP port of this worker")
    max_calls_per_worker: int = Field(default=4, ge=1, description="Concurrent calls per worker")
    worker_idle_processes: int = Field(default=1, ge=0, description="Pre-warmed call processes")
    sip_outbound_trunk: str = Field(
        default="dialroom-dev-out", description="Outbound SIP trunk: its id (ST_...) or name"
    )
    lines_busy_message: str = Field(
        default="Sorry, all our lines are busy right now. Please call again in a few minutes.",
        description="Said to an inbound caller when every worker is full",
    )
    ring_timeout_s: float = Field(default=30.0, gt=0, le=120, description="Outbound ring time")


class ProviderKeys(CommonSettings):
    """Cloud credentials, read once so personas can say exactly which ones are missing."""

    azure_speech_key: str = ""
    azure_speech_region: str = ""
    openai_api_key: str = ""
    azure_openai_api_key: str = ""
    azure_openai_endpoint: str = ""
    openai_api_version: str = ""
