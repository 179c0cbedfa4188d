"""The API process's settings (environment / `.env`), validated at start-up.

Keys are where an exposed API is attacked first, so they are checked before it serves: outside
development mode every key has at least `MIN_KEY_CHARS` characters, and the printed dev key is
accepted only while the API listens on loopback alone.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from dialroom.destinations import DEFAULT_TYPES, DestinationPolicy, parse_countries, parse_types
from dialroom.settings import DEV_DIALROOM_API_KEY, CommonSettings, SettingsError

MIN_KEY_CHARS = 32
MAKE_A_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


class ApiSettings(CommonSettings):
    api_host: str = Field(default="127.0.0.1", description="Address the API listens on")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port the API listens on")
    api_keys: str = Field(
        default="", description="Comma-separated keys clients send as X-API-Key (or Bearer)"
    )
    rate_limit_per_minute: int = Field(
        default=60, ge=1, description="Requests per minute per API key, then 429"
    )
    auth_failures_per_minute: int = Field(
        default=10, ge=1, description="Failed authentications per client address, then 429"
    )
    max_body_bytes: int = Field(
        default=65536, ge=1024, description="Largest accepted request body, then 413"
    )
    ready_timeout_s: float = Field(
        default=2.0, gt=0, le=30, description="How long /health/ready waits for LiveKit"
    )
    sip_outbound_trunk: str = Field(
        default="dialroom-dev-out", description="Outbound SIP trunk: its id (ST_...) or name"
    )
    destination_countries: str = Field(
        default="", description="Comma-separated regions calls may go to (US,GB); empty: any"
    )
    destination_types: str = Field(
        default=",".join(DEFAULT_TYPES), description="Number types calls may go to"
    )

    @field_validator("destination_countries")
    @classmethod
    def _countries(cls, value: str) -> str:
        parse_countries(value)
        return value

    @field_validator("destination_types")
    @classmethod
    def _types(cls, value: str) -> str:
        parse_types(value)
        return value

    @property
    def destinations(self) -> DestinationPolicy:
        return DestinationPolicy.parse(
            countries=self.destination_countries, types=self.destination_types
        )

    @property
    def listens_on_loopback(self) -> bool:
        if self.api_host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.api_host.strip("[]")).is_loopback
        except ValueError:
            return False

    @property
    def dev_key_accepted(self) -> bool:
        """Development mode, and only this machine can reach the API."""
        return self.dialroom_dev and self.listens_on_loopback

    @property
    def client_keys(self) -> tuple[str, ...]:
        return tuple(key.strip() for key in self.api_keys.split(",") if key.strip())

    @property
    def accepted_keys(self) -> tuple[str, ...]:
        keys = self.client_keys
        return (*keys, DEV_DIALROOM_API_KEY) if self.dev_key_accepted else keys

    def require_api_keys(self) -> None:
        if not self.accepted_keys:
            dev_refused = (
                f" (DIALROOM_DEV is on, but the dev key is refused while API_HOST={self.api_host} "
                "listens beyond loopback)"
                if self.dialroom_dev
                else ""
            )
            raise SettingsError(
                "API_KEYS not set: put comma-separated client keys in .env "
                "(or set DIALROOM_DEV=1 / run `python start.py up --dev` for the dev key)"
                f"{dev_refused}"
            )
        if self.dev_key_accepted:
            return
        for n, key in enumerate(self.client_keys, start=1):
            if len(key) < MIN_KEY_CHARS:
                raise SettingsError(
                    f"API_KEYS: key {n} has {len(key)} characters; outside development mode "
                    f"every key needs at least {MIN_KEY_CHARS} (make one: {MAKE_A_KEY})"
                )

    def start_up_notes(self) -> list[str]:
        """What an operator must know about the keys when the API starts (logged as warnings)."""
        if not self.dialroom_dev:
            return []
        if not self.dev_key_accepted:
            return [
                f"development mode is on, but the API listens on {self.api_host}, beyond "
                "loopback: the dev key is refused; clients need a key from API_KEYS"
            ]
        return [
            f"DEVELOPMENT MODE: the API accepts the dev key `{DEV_DIALROOM_API_KEY}` and "
            "webhooks and HTTP tools may reach loopback; never expose this API"
        ]
