"""The telephony config: `sip/telephony.yaml`, the trunks and dispatch rules LiveKit should have.

It validates into a frozen pydantic model. Every mistake is one `SpecError` naming the file,
the field path and the fix, like a persona's. Secrets are never in the file: a trunk names
the environment variable that holds its password (`password_env`).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dialroom.paths import AGENTS_DIR, SIP_DIR
from dialroom.persona import available

TELEPHONY_FILE = SIP_DIR / "telephony.yaml"
# Made by `start.py up --dev` (sip/provision.py); never managed by this config.
RESERVED_NAMES = frozenset({"dialroom-dev", "dialroom-dev-out"})
_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
_ENV = re.compile(r"^[A-Z][A-Z0-9_]*$")
_NUMBER = re.compile(r"^\+?[0-9*#]{2,20}$")
# SRTP for the call's media (livekit-sip's SDES): off by default, as in LiveKit.
MediaEncryption = Literal["disable", "allow", "require"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Auth(_Strict):
    """Digest auth: the username, and the NAME of the environment variable with the password."""

    username: str = Field(min_length=1)
    password_env: str

    @field_validator("password_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV.match(value):
            raise ValueError(
                "must be the NAME of an environment variable (like SIP_TRUNK_PASSWORD) that "
                "holds the password; the password itself never goes in this file"
            )
        return value


def _numbers(values: tuple[str, ...]) -> tuple[str, ...]:
    for number in values:
        if not _NUMBER.match(number):
            raise ValueError(f"`{number}` is not a phone number: use E.164 (+15551230000)")
    return values


class InboundTrunk(_Strict):
    """Calls a carrier sends us: which numbers, from where, with what credentials."""

    name: str = Field(pattern=_NAME)
    numbers: tuple[str, ...] = Field(default=(), description="dialled numbers; empty = any")
    allowed_addresses: tuple[str, ...] = Field(default=(), description="source IPs / CIDRs")
    auth: Auth | None = None
    max_call_duration_s: int | None = Field(default=None, gt=0, le=86400)
    include_headers: Literal["none", "x", "all"] = "x"
    media_encryption: MediaEncryption = "disable"

    _check_numbers = field_validator("numbers")(_numbers)

    @field_validator("allowed_addresses")
    @classmethod
    def _addresses(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError as err:
                raise ValueError(f"`{value}` is not an IP address or CIDR (1.2.3.4/30)") from err
        return values

    @model_validator(mode="after")
    def _not_open(self) -> InboundTrunk:
        if not self.allowed_addresses and self.auth is None:
            raise ValueError(
                "accepts calls from anyone: set `allowed_addresses` (the carrier's IPs), "
                "`auth`, or both"
            )
        return self


class OutboundTrunk(_Strict):
    """Calls we place through a carrier: where to send them and which caller ids we own."""

    name: str = Field(pattern=_NAME)
    address: str = Field(description="carrier host[:port], e.g. example.pstn.twilio.com")
    transport: Literal["auto", "udp", "tcp", "tls"] = "udp"
    numbers: tuple[str, ...] = Field(min_length=1, description="caller ids (E.164)")
    auth: Auth | None = None
    media_encryption: MediaEncryption = "disable"

    _check_numbers = field_validator("numbers")(_numbers)

    @field_validator("address")
    @classmethod
    def _host(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$", value):
            raise ValueError("must be a host or host:port, without `sip:` (e.g. x.pstn.twilio.com)")
        return value


class DispatchRule(_Strict):
    """Where calls on these trunks go: a room per call, and the trunk's default persona."""

    name: str = Field(pattern=_NAME)
    trunks: tuple[str, ...] = Field(min_length=1, description="names of inbound trunks")
    default_persona: str | None = Field(
        default=None, description="for dialled numbers no persona lists; none: not in service"
    )
    room_prefix: str = Field(default="call-", pattern=r"^[a-z0-9][a-z0-9_-]{0,30}$")


class TelephonySpec(_Strict):
    inbound: tuple[InboundTrunk, ...] = ()
    outbound: tuple[OutboundTrunk, ...] = ()
    dispatch: tuple[DispatchRule, ...] = ()

    @model_validator(mode="after")
    def _names(self) -> TelephonySpec:
        for kind, items in (("inbound", self.inbound), ("outbound", self.outbound)):
            _unique(kind, [t.name for t in items])
        _unique("dispatch", [r.name for r in self.dispatch])
        inbound = [t.name for t in self.inbound]
        used: dict[str, str] = {}
        for rule in self.dispatch:
            for trunk in rule.trunks:
                if trunk not in inbound:
                    raise ValueError(
                        f"dispatch rule `{rule.name}` names trunk `{trunk}`, which is not "
                        f"under `inbound:` (known: {', '.join(inbound) or 'none'})"
                    )
                if trunk in used:
                    raise ValueError(
                        f"trunk `{trunk}` is in two dispatch rules (`{used[trunk]}`, "
                        f"`{rule.name}`); give each trunk one rule"
                    )
                used[trunk] = rule.name
        if orphans := [name for name in inbound if name not in used]:
            raise ValueError(
                f"inbound trunk(s) {', '.join(orphans)} have no dispatch rule, so their calls "
                "would be rejected: add them to a rule's `trunks:` under `dispatch:`"
            )
        return self


def _unique(kind: str, names: list[str]) -> None:
    for name in names:
        if name in RESERVED_NAMES:
            raise ValueError(f"{kind}: `{name}` is reserved for `start.py up --dev`; rename it")
        if names.count(name) > 1:
            raise ValueError(f"{kind}: two entries are named `{name}`; names must be unique")


class SpecError(Exception):
    """A telephony file that cannot be applied, with where and why."""

    def __init__(self, path: Path, field: str, problem: str) -> None:
        self.path, self.field, self.problem = path, field, problem
        where = f"{path.name}: {field}" if field else path.name
        super().__init__(f"{where}: {problem}")


def load_spec(path: Path = TELEPHONY_FILE, *, agents_dir: Path = AGENTS_DIR) -> TelephonySpec:
    """Read and validate one telephony file; every default persona must exist in `agents_dir`."""
    if not path.is_file():
        raise SpecError(path, "", "no such file (start from sip/examples/)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise SpecError(path, where, f"not valid YAML ({getattr(err, 'problem', err)})") from err
    if not isinstance(data or {}, dict):
        raise SpecError(path, "", "must be a mapping with `inbound:`, `outbound:`, `dispatch:`")
    try:
        spec = TelephonySpec.model_validate(data or {})
    except ValidationError as err:
        errors = err.errors()
        # A password written into the file is the mistake to name, not the missing *_env.
        first = next((e for e in errors if _secret_written(e)), errors[0])
        raise SpecError(path, ".".join(str(p) for p in first["loc"]), _explain(first)) from err
    personas = available(agents_dir)
    for i, rule in enumerate(spec.dispatch):
        if rule.default_persona is not None and rule.default_persona not in personas:
            raise SpecError(
                path,
                f"dispatch.{i}.default_persona",
                f"no persona `{rule.default_persona}` in {agents_dir} "
                f"(available: {', '.join(personas) or 'none'})",
            )
    return spec


def _secret_written(error: Any) -> bool:
    last = str(error["loc"][-1]) if error["loc"] else ""
    return bool(error["type"] == "extra_forbidden" and ("password" in last or "secret" in last))


def _explain(error: Any) -> str:
    kind, msg = error["type"], str(error["msg"])
    if kind == "extra_forbidden":
        if _secret_written(error):
            return "secrets never go in this file: use `password_env: ENV_VAR_NAME`"
        return "unknown field (check the spelling against docs/carriers.md)"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        return "use lowercase letters, digits and `-` (it must start with a letter or digit)"
    return msg.removeprefix("Value error, ")
