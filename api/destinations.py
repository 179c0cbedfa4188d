"""The destination policy at the API's door: refused numbers are a 422 before anything queues.

`dialroom.destinations` says which numbers are called and which caller ids a trunk may show;
this module applies it to a call or a campaign and answers in the API's error shape, one
error per refused number (`loc: ["body", "callees", 3, "to_number"]` for a campaign row).

A trunk's caller ids live on the LiveKit server (`sip apply` and `start.py up --dev` put
them there), so they are read from it (ListSIPOutboundTrunk) and kept for `CACHE_S`: a
burst of calls costs one request, and a number added to a trunk counts within a minute.
The trunk is the persona's `outbound.trunk`, else SIP_OUTBOUND_TRUNK, as the worker dials.

The call's other destination is its `callback_url`: one whose host is a loopback, private,
link-local or metadata address literal is refused here, naming the field; a host name is
checked by the dispatcher each time it connects (`dialroom.outbound_http`).
"""

from __future__ import annotations

import time
from typing import Annotated
from urllib.parse import urlsplit

import aiohttp
import yaml
from fastapi import Depends, HTTPException, Request
from livekit import api as livekit
from pydantic import ValidationError

from api.errors import ErrorItem
from api.models import CampaignBody, OutboundCallBody
from api.settings import ApiSettings
from dialroom.destinations import DestinationPolicy, caller_id_refusal
from dialroom.outbound_http import OutboundPolicy
from dialroom.persona import OutboundRules, persona_path

CACHE_S = 30.0
Loc = tuple[str | int, ...]


class TrunkUnavailable(Exception):
    """The LiveKit server could not be asked for the trunk's numbers."""


class CallerIds:
    """Each outbound trunk's caller ids, by id or name, as the LiveKit server has them."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings
        self._cached: tuple[float, dict[str, tuple[str, ...]]] | None = None

    async def numbers(self, trunk: str) -> tuple[str, ...] | None:
        """The trunk's numbers; None when no trunk has that id or name."""
        if self._cached is None or time.monotonic() - self._cached[0] > CACHE_S:
            self._cached = (time.monotonic(), await self.fetch())
        return self._cached[1].get(trunk)

    async def fetch(self) -> dict[str, tuple[str, ...]]:
        """id -> numbers and name -> numbers for every outbound trunk."""
        timeout = self.settings.ready_timeout_s
        try:
            async with livekit.LiveKitAPI(
                url=self.settings.livekit_url,
                api_key=self.settings.livekit_api_key,
                api_secret=self.settings.livekit_api_secret,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as lk:
                found = await lk.sip.list_outbound_trunk(livekit.ListSIPOutboundTrunkRequest())
        except (livekit.TwirpError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
            raise TrunkUnavailable(type(err).__name__) from err
        trunks: dict[str, tuple[str, ...]] = {}
        for trunk in found.items:
            trunks[trunk.name] = trunks[trunk.sip_trunk_id] = tuple(trunk.numbers)
        return trunks


class DestinationGate:
    def __init__(self, settings: ApiSettings, caller_ids: CallerIds) -> None:
        self.settings, self.caller_ids = settings, caller_ids
        self.policy: DestinationPolicy = settings.destinations
        self.outbound = OutboundPolicy.from_settings(settings)

    async def check_call(self, body: OutboundCallBody) -> None:
        """422 when the call's number or caller id is refused."""
        errors = self._numbers([(("body", "to_number"), body.to_number)])
        if body.callback_url is not None:
            errors += self._callback(body.callback_url)
        if body.from_number is not None and not errors:
            errors += await self._caller_id(body.persona, body.from_number, ("body", "from_number"))
        _raise(errors)

    async def check_campaign(self, body: CampaignBody, *, from_loc: Loc) -> None:
        """422 naming every refused row, and the caller id when it is refused."""
        callees = enumerate(body.callees)
        rows = [(("body", "callees", i, "to_number"), c.to_number) for i, c in callees]
        errors = self._numbers(rows)
        if body.callback_url is not None:
            errors += self._callback(body.callback_url, (from_loc[0], "callback_url"))
        if body.from_number is not None:
            errors += await self._caller_id(body.persona, body.from_number, from_loc)
        _raise(errors)

    def _numbers(self, numbers: list[tuple[Loc, str]]) -> list[ErrorItem]:
        refused = ((loc, self.policy.refusal(number)) for loc, number in numbers)
        return [_item(loc, why, "destination_refused") for loc, why in refused if why]

    def _callback(self, url: str, loc: Loc = ("body", "callback_url")) -> list[ErrorItem]:
        why = self.outbound.literal_refusal(urlsplit(url).hostname or "")
        return [_item(loc, why, "callback_refused")] if why else []

    async def _caller_id(self, persona: str, from_number: str, loc: Loc) -> list[ErrorItem]:
        trunk = self._trunk(persona)
        try:
            numbers = await self.caller_ids.numbers(trunk)
        except TrunkUnavailable as err:
            msg = f"from_number cannot be checked: the LiveKit server did not answer ({err})"
            detail = [_item(loc, msg, "trunk_unavailable").model_dump()]
            raise HTTPException(503, detail=detail) from err
        why = caller_id_refusal(from_number, trunk, numbers)
        return [_item(loc, why, "caller_id_refused")] if why else []

    def _trunk(self, persona: str) -> str:
        """The persona's `outbound.trunk`, read alone: the rest of the persona (its tools'
        secrets, its prompt) is the worker's business, not needed to know the trunk."""
        default = self.settings.sip_outbound_trunk
        try:
            data = yaml.safe_load(persona_path(persona, self.settings.agents_dir).read_text())
            rules = OutboundRules.model_validate(data.get("outbound") or {})
        except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError, AttributeError):
            return default  # the route reports a persona it cannot use
        return rules.trunk or default


def _item(loc: Loc, msg: str, kind: str) -> ErrorItem:
    return ErrorItem(loc=list(loc), msg=msg, type=kind)


def _raise(errors: list[ErrorItem]) -> None:
    if errors:
        raise HTTPException(422, detail=[error.model_dump() for error in errors])


def get_destinations(request: Request) -> DestinationGate:
    gate: DestinationGate = request.app.state.destinations
    return gate


Destinations = Annotated[DestinationGate, Depends(get_destinations)]
