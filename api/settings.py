"""The API process's settings (environment / `.env`), validated at start-up."""

from __future__ import annotations

from pydantic import Field

from dialroom.settings import DEV_DIALROOM_API_KEY, CommonSettings, SettingsError


class ApiSettings(CommonSettings):
    api_host: str = Field(default="127.0.0.1", description="Address the API listens on")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on")
    api_keys: str = Field(
        default="", description="Comma-separated keys clients send as X-API-Key (or Bearer)"
    )
    dialroom_dev: bool = Field(
        default=False, description="Development mode: also accept the printed dev API key"
    )
    rate_limit_per_minute: int = Field(
        default=60, ge=1, description="Requests per minute per API key, then 429"
    )
    max_body_bytes: int = Field(
        default=65536, ge=1024, description="Largest accepted request body, then 413"
    )
    ready_timeout_s: float = Field(
        default=2.0, gt=0, le=30, description="How long /health/ready waits for LiveKit"
    )

    @property
    def accepted_keys(self) -> tuple[str, ...]:
        keys = tuple(key.strip() for key in self.api_keys.split(",") if key.strip())
        return (*keys, DEV_DIALROOM_API_KEY) if self.dialroom_dev else keys

    def require_api_keys(self) -> None:
        if not self.accepted_keys:
            raise SettingsError(
                "API_KEYS not set: put comma-separated client keys in .env "
                "(or set DIALROOM_DEV=1 / run `python start.py up --dev` for the dev key)"
            )
