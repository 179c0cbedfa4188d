"""Trunk passwords, read from the environment variables the telephony file names.

The names are data (each trunk picks its own), so the settings class is built for the names
in hand; it reads the environment and `.env` exactly as every other Dialroom setting does.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from sip.spec import TelephonySpec


class SecretsError(Exception):
    """One or more password variables are not set; the message is one line naming them."""


class _Secrets(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)


def needed_secrets(spec: TelephonySpec) -> dict[str, str]:
    """Each password variable the spec names -> the field that names it (for the error)."""
    needed: dict[str, str] = {}
    for kind, trunks in (("inbound", spec.inbound), ("outbound", spec.outbound)):
        for i, trunk in enumerate(trunks):
            if trunk.auth is not None:
                needed.setdefault(trunk.auth.password_env, f"{kind}.{i}.auth.password_env")
    return needed


def resolve_secrets(needed: dict[str, str], *, file_name: str = "telephony.yaml") -> dict[str, str]:
    """Variable name -> value for every name in `needed`; SecretsError if any is unset or empty."""
    if not needed:
        return {}
    fields: dict[str, Any] = {name.lower(): (str, Field(min_length=1)) for name in needed}
    model = create_model("TrunkSecrets", __base__=_Secrets, **fields)
    try:
        values = model().model_dump()
    except ValidationError as err:
        missing = sorted({str(e["loc"][0]).upper() for e in err.errors()})
        where = ", ".join(f"{file_name}: {needed[name]}" for name in missing)
        raise SecretsError(
            f"{', '.join(missing)} not set: put the trunk password(s) in the environment "
            f"or .env (named by {where})"
        ) from err
    return {name: values[name.lower()] for name in needed}
