"""Planning: create what is missing, update what differs field by field, delete managed
objects the file dropped, and never touch objects this config does not manage."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from sip.objects import (
    MARKER,
    View,
    _inbound_view,
    _outbound_view,
    _rule_view,
    desired_views,
    inbound_proto,
    outbound_proto,
    rule_proto,
)
from sip.plan import ConflictError, make_plan
from sip.spec import TelephonySpec

SPEC = TelephonySpec.model_validate(
    {
        "inbound": [
            {
                "name": "main",
                "numbers": ["+15551230001", "+15551230000"],
                "allowed_addresses": ["10.0.0.1/32"],
                "auth": {"username": "me", "password_env": "MAIN_PASSWORD"},
                "max_call_duration_s": 600,
            }
        ],
        "outbound": [
            {
                "name": "out",
                "address": "sip.example.com:5080",
                "transport": "tcp",
                "numbers": ["+15551230000"],
            }
        ],
        "dispatch": [{"name": "main", "trunks": ["main"], "room_prefix": "main-"}],
    }
)
SECRETS = {"MAIN_PASSWORD": "s3cret"}


def desired() -> list[View]:
    return desired_views(SPEC, SECRETS, agent_name="dialroom")


def as_live(views: list[View]) -> list[View]:
    """What the server would list after creating `views` (round trip through the protobufs)."""
    ids = {v.name: f"ST_{v.name}" for v in views if v.kind == "inbound trunk"}
    live: list[View] = []
    for v in views:
        if v.kind == "inbound trunk":
            proto = inbound_proto(v)
            proto.sip_trunk_id = ids[v.name]
            live.append(_inbound_view(proto))
        elif v.kind == "outbound trunk":
            proto_out = outbound_proto(v)
            proto_out.sip_trunk_id = f"ST_out_{v.name}"
            live.append(_outbound_view(proto_out))
        else:
            rule = rule_proto(v, ids)
            rule.sip_dispatch_rule_id = f"SDR_{v.name}"
            live.append(_rule_view(rule, {i: n for n, i in ids.items()}))
    return live


def test_an_empty_server_gets_everything_created() -> None:
    plan = make_plan(desired(), [])
    assert [(c.action, c.kind, c.name) for c in plan.changes] == [
        ("create", "inbound trunk", "main"),
        ("create", "outbound trunk", "out"),
        ("create", "dispatch rule", "main"),
    ]


def test_what_was_created_round_trips_to_no_changes() -> None:
    assert make_plan(desired(), as_live(desired())).empty


def test_a_changed_field_is_an_update_with_its_diff() -> None:
    live = as_live(desired())
    live[0] = replace(live[0], fields={**live[0].fields, "numbers": ("+15551230000",)})
    (change,) = make_plan(desired(), live).changes
    assert (change.action, change.kind, change.name) == ("update", "inbound trunk", "main")
    assert [d.describe() for d in change.diffs] == [
        "numbers: [+15551230000] → [+15551230000, +15551230001]"
    ]


def test_a_changed_password_is_shown_without_its_value() -> None:
    live = as_live(desired())
    live[0] = replace(live[0], fields={**live[0].fields, "auth_password": "old"})
    (change,) = make_plan(desired(), live).changes
    (diff,) = change.diffs
    assert diff.describe() == "auth_password: (secret changed)"
    assert "s3cret" not in diff.describe() and "old" not in diff.describe()


def test_managed_objects_the_file_dropped_are_deleted() -> None:
    live = as_live(desired())
    plan = make_plan([v for v in desired() if v.kind != "outbound trunk"], live)
    assert [(c.action, c.kind, c.name) for c in plan.changes] == [
        ("delete", "outbound trunk", "out")
    ]


def test_unmanaged_objects_are_left_alone() -> None:
    dev = View("inbound trunk", "dialroom-dev", {}, id="ST_dev", managed=False)
    assert make_plan(desired(), [*as_live(desired()), dev]).empty
    assert all(c.name != "dialroom-dev" for c in make_plan([], [dev]).changes)


def test_an_unmanaged_object_with_a_wanted_name_is_a_conflict() -> None:
    mine = View("outbound trunk", "out", {}, id="ST_hand", managed=False)
    with pytest.raises(ConflictError, match="`out` .*not managed"):
        make_plan(desired(), [mine])


def test_the_rule_tells_the_worker_its_default_or_that_it_has_none() -> None:
    ids = {"main": "ST_1"}
    (rule,) = [v for v in desired() if v.kind == "dispatch rule"]
    proto = rule_proto(rule, ids)
    assert proto.metadata == MARKER and list(proto.trunk_ids) == ["ST_1"]
    meta = json.loads(proto.room_config.agents[0].metadata)
    assert meta == {"direction": "inbound", "rule": "main"}  # no default persona
    with_default = replace(rule, fields={**rule.fields, "default_persona": "demo"})
    meta = json.loads(rule_proto(with_default, ids).room_config.agents[0].metadata)
    assert meta["persona"] == "demo"


def test_a_create_lists_the_fields_it_sets_without_secrets() -> None:
    create = make_plan(desired(), []).changes[0]
    shown = [d.describe() for d in create.diffs]
    assert "numbers: [+15551230000, +15551230001]" in shown
    assert "auth_password: (secret set)" in shown and not any("s3cret" in s for s in shown)
