"""Make the server match the telephony file: the plan's changes, in an order LiveKit accepts.

Deletes go first (rules, then trunks), so a renamed trunk or rule never conflicts with its
old self over the same numbers; then trunks are created or replaced, then the rules that
reference them by id. Running it again with the same file changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from livekit import api

from sip.objects import View, desired_views, inbound_proto, live_views, outbound_proto, rule_proto
from sip.plan import Change, Plan, make_plan
from sip.secrets import needed_secrets, resolve_secrets
from sip.spec import load_spec

Report = Callable[[Change], None]


async def plan_for(
    lk: api.LiveKitAPI, path: Path, *, agents_dir: Path, agent_name: str
) -> tuple[Plan, list[View]]:
    """Load and check the file, read the server, and compare: the plan and the live views."""
    spec = load_spec(path, agents_dir=agents_dir)
    secrets = resolve_secrets(needed_secrets(spec), file_name=path.name)
    live = await live_views(lk)
    return make_plan(desired_views(spec, secrets, agent_name=agent_name), live), live


async def apply_plan(lk: api.LiveKitAPI, plan: Plan, live: list[View], report: Report) -> None:
    trunk_ids = {v.name: v.id for v in live if v.kind == "inbound trunk" and v.managed}
    order = (
        ("delete", "dispatch rule"),
        ("delete", "inbound trunk"),
        ("delete", "outbound trunk"),
        (None, "inbound trunk"),
        (None, "outbound trunk"),
        (None, "dispatch rule"),
    )
    for action, kind in order:
        for change in plan.changes:
            if change.kind != kind or (change.action == "delete") != (action == "delete"):
                continue
            created = await _execute(lk, change, trunk_ids)
            if change.kind == "inbound trunk" and created:
                trunk_ids[change.name] = created
            report(change)


async def _execute(lk: api.LiveKitAPI, change: Change, trunk_ids: dict[str, str]) -> str:
    """Carry out one change; return the id of what it created or replaced ("" for a delete)."""
    if change.action == "delete":
        assert change.live is not None
        if change.kind == "dispatch rule":
            await lk.sip.delete_dispatch_rule(
                api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=change.live.id)
            )
        else:
            await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=change.live.id))
        return ""
    assert change.desired is not None
    live_id = change.live.id if change.live else ""
    if change.kind == "inbound trunk":
        trunk = inbound_proto(change.desired)
        if live_id:
            return (await lk.sip.update_inbound_trunk(live_id, trunk)).sip_trunk_id
        request = api.CreateSIPInboundTrunkRequest(trunk=trunk)
        return (await lk.sip.create_inbound_trunk(request)).sip_trunk_id
    if change.kind == "outbound trunk":
        out = outbound_proto(change.desired)
        if live_id:
            return (await lk.sip.update_outbound_trunk(live_id, out)).sip_trunk_id
        request_out = api.CreateSIPOutboundTrunkRequest(trunk=out)
        return (await lk.sip.create_outbound_trunk(request_out)).sip_trunk_id
    rule = rule_proto(change.desired, trunk_ids)
    if live_id:
        return (await lk.sip.update_dispatch_rule(live_id, rule)).sip_dispatch_rule_id
    request_rule = api.CreateSIPDispatchRuleRequest(dispatch_rule=rule)
    return (await lk.sip.create_dispatch_rule(request_rule)).sip_dispatch_rule_id
