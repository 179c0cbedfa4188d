"""Provision the development inbound trunk and dispatch rule, idempotently.

Calls from loopback to any number on the SIP bridge land in a new room `call-...`, and the
worker named `agent_name` is dispatched into it with the default persona. Their `X-*` headers
reach the persona as `{sip_h_*}` variables.

Room names: LiveKit's "individual" rule names a call's room after the caller's number, which
then shows in every log line that names the room. `room_per_call` uses the "callee" rule with
a random suffix instead: `<prefix>_<dialled number>_<random>`, the business's own number and
never the caller's. (No rule of the pinned LiveKit leaves every number out of the room name.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from livekit import api

DEV_NAME = "dialroom-dev"
DEV_OUTBOUND_NAME = "dialroom-dev-out"
DEV_CALLER_ID = "+15550100000"


@dataclass(frozen=True)
class Provisioned:
    trunk_id: str
    rule_id: str


def room_per_call(prefix: str) -> api.SIPDispatchRule:
    """A new room for each call, named without the caller's number (see the module)."""
    return api.SIPDispatchRule(
        dispatch_rule_callee=api.SIPDispatchRuleCallee(room_prefix=prefix, randomize=True)
    )


async def provision_dev_inbound(
    lk: api.LiveKitAPI, *, agent_name: str, persona: str, allowed_addresses: list[str]
) -> Provisioned:
    await _remove_previous(lk)
    trunk = await lk.sip.create_inbound_trunk(
        api.CreateSIPInboundTrunkRequest(
            trunk=api.SIPInboundTrunkInfo(
                name=DEV_NAME,
                numbers=[],
                allowed_addresses=allowed_addresses,
                # X-* headers become `sip.h.*` attributes ({sip_h_*} variables), as with
                # telephony.yaml's default `include_headers: x`
                include_headers=api.SIPHeaderOptions.SIP_X_HEADERS,
            )
        )
    )
    rule = await lk.sip.create_dispatch_rule(
        api.CreateSIPDispatchRuleRequest(
            dispatch_rule=api.SIPDispatchRuleInfo(
                name=DEV_NAME,
                trunk_ids=[trunk.sip_trunk_id],
                rule=room_per_call("call-"),
                room_config=api.RoomConfiguration(
                    agents=[
                        api.RoomAgentDispatch(
                            agent_name=agent_name,
                            metadata=json.dumps({"persona": persona, "direction": "inbound"}),
                        )
                    ]
                ),
            )
        )
    )
    return Provisioned(trunk_id=trunk.sip_trunk_id, rule_id=rule.sip_dispatch_rule_id)


async def _remove_previous(lk: api.LiveKitAPI) -> None:
    rules = await lk.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())
    for rule in rules.items:
        if rule.name == DEV_NAME:
            await lk.sip.delete_dispatch_rule(
                api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule.sip_dispatch_rule_id)
            )
    trunks = await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
    for trunk in trunks.items:
        if trunk.name == DEV_NAME:
            await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id))


async def provision_dev_outbound(lk: api.LiveKitAPI, *, address: str) -> str:
    """An outbound trunk to a SIP endpoint on this machine (a softphone or the test phone)."""
    trunks = await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
    for trunk in trunks.items:
        if trunk.name == DEV_OUTBOUND_NAME:
            await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id))
    created = await lk.sip.create_outbound_trunk(
        api.CreateSIPOutboundTrunkRequest(
            trunk=api.SIPOutboundTrunkInfo(
                name=DEV_OUTBOUND_NAME,
                address=address,
                transport=api.SIPTransport.SIP_TRANSPORT_UDP,
                numbers=[DEV_CALLER_ID],
            )
        )
    )
    return created.sip_trunk_id
