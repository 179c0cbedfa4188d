"""LiveKit's SIP objects as plain comparable views: what the spec wants, what the server has.

A view holds only the fields the telephony file controls, with trunks named rather than
referenced by id, so a plan is a dict comparison and the same view builds the request.
Objects this config manages carry `MARKER` in their metadata; anything else on the server
(the `start.py up --dev` trunk, hand-made rules) is listed but never touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from google.protobuf.duration_pb2 import Duration
from livekit import api

from sip.provision import room_per_call
from sip.spec import TelephonySpec

Kind = Literal["inbound trunk", "outbound trunk", "dispatch rule"]
KINDS: tuple[Kind, ...] = ("inbound trunk", "outbound trunk", "dispatch rule")
MARKER = json.dumps({"managed_by": "dialroom-sip"})
SECRET_FIELDS = frozenset({"auth_password"})
_TRANSPORTS = {"auto": 0, "udp": 1, "tcp": 2, "tls": 3}
_HEADERS = {"none": 0, "x": 1, "all": 2}
_ENCRYPTION = {
    "disable": api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_DISABLE,
    "allow": api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_ALLOW,
    "require": api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE,
}


@dataclass(frozen=True)
class View:
    kind: Kind
    name: str
    fields: dict[str, Any]
    id: str = ""  # the server's id; empty for a desired object
    managed: bool = True
    raw: Any = field(default=None, compare=False, repr=False)  # the live protobuf


def desired_views(spec: TelephonySpec, secrets: dict[str, str], *, agent_name: str) -> list[View]:
    """Every object the spec asks for, passwords filled in from `secrets` (variable -> value)."""
    views: list[View] = []
    for t in spec.inbound:
        views.append(
            View(
                "inbound trunk",
                t.name,
                {
                    "numbers": tuple(sorted(t.numbers)),
                    "allowed_addresses": tuple(sorted(t.allowed_addresses)),
                    "auth_username": t.auth.username if t.auth else "",
                    "auth_password": secrets[t.auth.password_env] if t.auth else "",
                    "max_call_duration_s": t.max_call_duration_s or 0,
                    "include_headers": t.include_headers,
                    "media_encryption": t.media_encryption,
                },
            )
        )
    for o in spec.outbound:
        views.append(
            View(
                "outbound trunk",
                o.name,
                {
                    "address": o.address,
                    "transport": o.transport,
                    "numbers": tuple(sorted(o.numbers)),
                    "auth_username": o.auth.username if o.auth else "",
                    "auth_password": secrets[o.auth.password_env] if o.auth else "",
                    "media_encryption": o.media_encryption,
                },
            )
        )
    for r in spec.dispatch:
        views.append(
            View(
                "dispatch rule",
                r.name,
                {
                    "trunks": tuple(sorted(r.trunks)),
                    "room_prefix": r.room_prefix,
                    "agent_name": agent_name,
                    "default_persona": r.default_persona or "",
                },
            )
        )
    return views


async def live_views(lk: api.LiveKitAPI) -> list[View]:
    """Every SIP trunk and dispatch rule on the server, managed or not."""
    inbound = (await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())).items
    outbound = (await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())).items
    rules = (await lk.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())).items
    names = {t.sip_trunk_id: t.name for t in inbound}
    return (
        [_inbound_view(t) for t in inbound]
        + [_outbound_view(t) for t in outbound]
        + [_rule_view(r, names) for r in rules]
    )


def _inbound_view(t: api.SIPInboundTrunkInfo) -> View:
    headers = {v: k for k, v in _HEADERS.items()}
    fields = {
        "numbers": tuple(sorted(t.numbers)),
        "allowed_addresses": tuple(sorted(t.allowed_addresses)),
        "auth_username": t.auth_username,
        "auth_password": t.auth_password,
        "max_call_duration_s": t.max_call_duration.seconds,
        "include_headers": headers.get(t.include_headers, str(t.include_headers)),
        "media_encryption": _encryption_name(t.media_encryption),
    }
    return View("inbound trunk", t.name, fields, t.sip_trunk_id, t.metadata == MARKER, t)


def _outbound_view(t: api.SIPOutboundTrunkInfo) -> View:
    transports = {v: k for k, v in _TRANSPORTS.items()}
    fields = {
        "address": t.address,
        "transport": transports.get(t.transport, str(t.transport)),
        "numbers": tuple(sorted(t.numbers)),
        "auth_username": t.auth_username,
        "auth_password": t.auth_password,
        "media_encryption": _encryption_name(t.media_encryption),
    }
    return View("outbound trunk", t.name, fields, t.sip_trunk_id, t.metadata == MARKER, t)


def _encryption_name(value: int) -> str:
    names = {v: k for k, v in _ENCRYPTION.items()}
    return names.get(value, str(value))  # type: ignore[call-overload]


def _rule_view(r: api.SIPDispatchRuleInfo, trunk_names: dict[str, str]) -> View:
    agents = list(r.room_config.agents)
    meta = _json(agents[0].metadata) if agents else {}
    fields = {
        "trunks": tuple(sorted(trunk_names.get(i, i) for i in r.trunk_ids)),
        "room_prefix": r.rule.dispatch_rule_callee.room_prefix,  # see `room_per_call`
        "agent_name": agents[0].agent_name if agents else "",
        "default_persona": str(meta.get("persona") or ""),
    }
    return View("dispatch rule", r.name, fields, r.sip_dispatch_rule_id, r.metadata == MARKER, r)


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def dispatch_metadata(rule: str, default_persona: str) -> str:
    """What a managed rule hands the worker: `rule` marks it declarative; `persona` only when
    the rule has a default (without one, an unlisted number is not in service)."""
    meta = {"direction": "inbound", "rule": rule}
    if default_persona:
        meta["persona"] = default_persona
    return json.dumps(meta)


def inbound_proto(v: View) -> api.SIPInboundTrunkInfo:
    f = v.fields
    seconds = f["max_call_duration_s"]
    return api.SIPInboundTrunkInfo(
        name=v.name,
        metadata=MARKER,
        numbers=list(f["numbers"]),
        allowed_addresses=list(f["allowed_addresses"]),
        auth_username=f["auth_username"],
        auth_password=f["auth_password"],
        max_call_duration=Duration(seconds=seconds) if seconds else None,
        include_headers=_HEADERS[f["include_headers"]],  # type: ignore[arg-type]
        media_encryption=_ENCRYPTION[f["media_encryption"]],
    )


def outbound_proto(v: View) -> api.SIPOutboundTrunkInfo:
    f = v.fields
    return api.SIPOutboundTrunkInfo(
        name=v.name,
        metadata=MARKER,
        address=f["address"],
        transport=_TRANSPORTS[f["transport"]],  # type: ignore[arg-type]
        numbers=list(f["numbers"]),
        auth_username=f["auth_username"],
        auth_password=f["auth_password"],
        media_encryption=_ENCRYPTION[f["media_encryption"]],
    )


def rule_proto(v: View, trunk_ids: dict[str, str]) -> api.SIPDispatchRuleInfo:
    f = v.fields
    return api.SIPDispatchRuleInfo(
        name=v.name,
        metadata=MARKER,
        trunk_ids=[trunk_ids[name] for name in f["trunks"]],
        rule=room_per_call(f["room_prefix"]),
        room_config=api.RoomConfiguration(
            agents=[
                api.RoomAgentDispatch(
                    agent_name=f["agent_name"],
                    metadata=dispatch_metadata(v.name, f["default_persona"]),
                )
            ]
        ),
    )
