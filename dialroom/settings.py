"""Settings every Dialroom process shares: how to reach LiveKit and Redis, and the agent name.

Each process (worker, API, start.py) extends `CommonSettings` with its own fields; values come
from the environment or `.env`, and a bad value stops the process at start-up with one line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dialroom.paths import AGENTS_DIR, PROMPTS_DIR, ROOT

_S = TypeVar("_S")

DEV_API_KEY = "devkey"
# Printed as a development key whenever it is used; never accepted outside `start.py up --dev`.
DEV_API_SECRET = "dialroom-development-secret-not-for-production"
# The Dialroom HTTP API's key in development mode (`DIALROOM_DEV=1`, which `start.py up --dev`
# sets); printed by start.py, never accepted otherwise.
DEV_DIALROOM_API_KEY = "dev-api-key"


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it and the fix."""


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    livekit_url: str = Field(
        default="ws://127.0.0.1:7880", description="WebSocket URL of livekit-server"
    )
    livekit_api_key: str = Field(default="", description="API key known to livekit-server")
    livekit_api_secret: str = Field(default="", description="Secret for LIVEKIT_API_KEY")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis for call data")
    database_url: str = Field(
        default="",
        description="The call history: sqlite+aiosqlite:///FILE or postgresql+asyncpg://...; "
        "empty: the SQLite file .run/dialroom.db of this checkout",
    )
    recordings_dir: Path = Field(
        default=ROOT / ".run" / "recordings", description="Folder of call recordings"
    )
    recordings_url: str = Field(
        default="",
        description="s3://bucket/prefix: keep recordings in S3-compatible storage, not the folder",
    )
    s3_endpoint_url: str = Field(
        default="", description="S3-compatible endpoint (MinIO, ...); empty: AWS"
    )
    s3_region: str = Field(default="us-east-1", description="Region of RECORDINGS_URL's bucket")
    s3_access_key_id: str = Field(default="", description="Empty: boto3's default credentials")
    s3_secret_access_key: str = Field(default="", description="Secret for S3_ACCESS_KEY_ID")
    agent_name: str = Field(default="dialroom", description="Name workers register under")
    default_persona: str = Field(default="demo", description="Persona used when none is named")
    agents_dir: Path = Field(default=AGENTS_DIR, description="Folder of persona YAML files")
    prompts_dir: Path = Field(default=PROMPTS_DIR, description="Folder of prompt files")
    dialroom_dev: bool = Field(
        default=False,
        description="Development mode (`start.py up --dev`): the dev API key on loopback, "
        "webhooks and HTTP tools may reach loopback",
    )
    outbound_allowed_hosts: str = Field(
        default="",
        description="Comma-separated hosts webhooks and HTTP tools may reach on private addresses",
    )

    @field_validator("livekit_url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://", "http://", "https://")):
            raise ValueError("must start with ws://, wss://, http:// or https://")
        return value

    @field_validator("recordings_dir", mode="before")
    @classmethod
    def _default_dir_when_empty(cls, value: object) -> object:
        return ROOT / ".run" / "recordings" if value == "" else value  # `RECORDINGS_DIR=`

    @field_validator("recordings_url")
    @classmethod
    def _s3_url(cls, value: str) -> str:
        if value and not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,62}(/.*)?$", value):
            raise ValueError("must be s3://bucket or s3://bucket/prefix (or empty: RECORDINGS_DIR)")
        return value

    @property
    def history_url(self) -> str:
        """Where the call history is: DATABASE_URL, else a SQLite file in the run folder."""
        return self.database_url or f"sqlite+aiosqlite:///{ROOT / '.run' / 'dialroom.db'}"

    def require_livekit_keys(self) -> None:
        missing = [
            name
            for name, value in (
                ("LIVEKIT_API_KEY", self.livekit_api_key),
                ("LIVEKIT_API_SECRET", self.livekit_api_secret),
            )
            if not value
        ]
        if missing:
            raise SettingsError(
                f"{' and '.join(missing)} not set: put them in .env "
                "(or run `python start.py up --dev` for development keys)"
            )


def describe_validation_error(err: ValidationError) -> str:
    """One line per bad setting, named as the environment variable a user would set."""
    parts = []
    for item in err.errors():
        name = "_".join(str(p) for p in item["loc"]).upper()
        parts.append(f"{name}: {str(item['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def settings_or_exit(build: Callable[[], _S]) -> _S:
    """Build a process's settings; on a mistake print one line naming it and exit with 1."""
    try:
        return build()
    except ValidationError as err:
        sys.exit(f"error: bad setting: {describe_validation_error(err)}")
    except SettingsError as err:
        sys.exit(f"error: {err}")


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
