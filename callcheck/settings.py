"""What `start.py check-call` reads from the environment (or .env)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CheckCallSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    check_call_api_key: str = Field(
        default="",
        description="An API key (one of API_KEYS) to read the check call's record (its tool "
        "calls) from a local stack; empty: the dev key of a `--dev` stack",
    )
