"""The worker process's settings (environment / `.env`), validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from dialroom.paths import cache_dir
from dialroom.settings import CommonSettings

WhenFull = Literal["message", "reject"]  # what a caller gets when every worker is full
AUDIO_RATES = (8000, 16000, 24000, 48000)  # what a call's room input can decode to


class WorkerSettings(CommonSettings):
    worker_port: int = Field(default=8081, description="Health/status HTTP port of this worker")
    worker_registered_file: str = Field(
        default="", description="File the worker writes its id to once registered (start.py)"
    )
    max_calls_per_worker: int = Field(default=4, ge=1, description="Concurrent calls per worker")
    worker_idle_processes: int | None = Field(
        default=None, ge=0, description="Pre-warmed call processes (default: MAX_CALLS_PER_WORKER)"
    )
    # On a full box the call processes starve livekit-sip, livekit-server and the shared
    # inference process, which every call's audio goes through (bench/README.md, 12 calls:
    # reply p95 5.1-5.8 s at 0, 3.0-3.4 s at 5; at 10 greetings came later).
    call_process_nice: int = Field(
        default=5,
        ge=0,
        le=19,
        description="Niceness added to call processes, so the shared audio path goes first",
    )
    process_start_timeout_s: float = Field(
        default=30.0, gt=0, description="How long a new call process may take to start"
    )
    sip_outbound_trunk: str = Field(
        default="dialroom-dev-out", description="Outbound SIP trunk: its id (ST_...) or name"
    )
    lines_busy_message: str = Field(
        default="Sorry, all our lines are busy right now. Please call again in a few minutes.",
        description="Said to an inbound caller when every worker is full",
    )
    when_full: WhenFull = Field(
        default="message",
        description="Every worker full: say LINES_BUSY_MESSAGE, or reject with 486 Busy Here",
    )
    not_in_service_message: str = Field(
        default="Sorry, the number you have called is not in service. Goodbye.",
        description="Said to an inbound caller whose number has no persona and no default",
    )
    ring_timeout_s: float = Field(default=30.0, gt=0, le=120, description="Outbound ring time")
    greeting_cache_dir: Path | None = Field(
        default=None,
        description="Where rendered greetings are kept (default: ~/.cache/dialroom/greetings)",
    )
    recording_enabled: bool = Field(
        default=False, description="Record calls of personas without a `recording:` section"
    )
    recording_consent_message: str = Field(
        default="", description="Said before the greeting of calls RECORDING_ENABLED records"
    )
    audio_input_sample_rate: int = Field(
        default=16000, description="Rate a call's caller audio is decoded at (worker.room_audio)"
    )

    @field_validator("worker_idle_processes", "greeting_cache_dir", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if value == "" else value  # compose passes an unset variable as ""

    @field_validator("audio_input_sample_rate")
    @classmethod
    def _a_decodable_rate(cls, value: int) -> int:
        if value not in AUDIO_RATES:
            raise ValueError(f"must be one of {', '.join(map(str, AUDIO_RATES))}")
        return value

    @property
    def greeting_cache_root(self) -> Path:
        """GREETING_CACHE_DIR, else the per-user cache the apology is kept in too."""
        return self.greeting_cache_dir or cache_dir() / "greetings"

    @property
    def idle_processes(self) -> int:
        """Warm call processes kept ready: by default one per line, so a burst of calls is
        answered by processes that already started (a cold start takes seconds under load)."""
        if self.worker_idle_processes is None:
            return self.max_calls_per_worker
        return self.worker_idle_processes


class ProviderKeys(CommonSettings):
    """Cloud credentials, read once so personas can say exactly which ones are missing."""

    azure_speech_key: str = ""
    azure_speech_region: str = ""
    openai_api_key: str = ""
    azure_openai_api_key: str = ""
    azure_openai_endpoint: str = ""
    openai_api_version: str = ""
