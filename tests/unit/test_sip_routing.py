"""Inbound routing with trunks from sip/telephony.yaml: the number's persona, else the
trunk's default, else "not in service"; SIP headers become {sip_h_...} variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialroom.dial import InboundDispatch
from dialroom.persona import PersonaError, load_persona
from sip.objects import dispatch_metadata
from worker.dispatch import read_dispatch
from worker.routing import header_variables, route_inbound

SALES = 'numbers: ["+15551230000"]\n'


def test_the_number_s_persona_wins_over_the_trunk_default(tmp_path: Path) -> None:
    (tmp_path / "sales.yaml").write_text(SALES)
    meta = InboundDispatch.from_metadata(dispatch_metadata("main", "demo"))
    assert route_inbound("+15551230000", dispatch=meta, fallback="x", agents_dir=tmp_path) == (
        "sales"
    )
    assert route_inbound("+15559999999", dispatch=meta, fallback="x", agents_dir=tmp_path) == (
        "demo"
    )


def test_a_managed_rule_without_a_default_means_not_in_service(tmp_path: Path) -> None:
    (tmp_path / "sales.yaml").write_text(SALES)
    meta = InboundDispatch.from_metadata(dispatch_metadata("main", ""))
    assert route_inbound("+15559999999", dispatch=meta, fallback="demo", agents_dir=tmp_path) is (
        None
    )
    assert route_inbound("+15551230000", dispatch=meta, fallback="demo", agents_dir=tmp_path) == (
        "sales"
    )


def test_other_rules_keep_the_default_persona_setting() -> None:
    def default(raw: str | None) -> str | None:
        dispatch = read_dispatch(raw)
        assert isinstance(dispatch, InboundDispatch)
        return dispatch.default_persona("other")

    assert default(json.dumps({"persona": "demo", "direction": "inbound"})) == "demo"
    assert default(json.dumps({"direction": "inbound"})) == "other"
    assert default("not json") == "other"
    assert default(None) == "other"


def test_sip_headers_become_variables() -> None:
    attributes = {
        "sip.h.x-customer-id": "C-42",
        "sip.h.x-campaign.name": "spring",
        "sip.phoneNumber": "+15551230000",
    }
    assert header_variables(attributes) == {
        "sip_h_x_customer_id": "C-42",
        "sip_h_x_campaign_name": "spring",
    }


def test_a_persona_may_use_header_variables_but_not_other_unknown_ones(tmp_path: Path) -> None:
    base = (
        "stt: {provider: local}\nllm: {provider: flow}\ntts: {provider: local}\n"
        "flow:\n  - collect: day\n    choices: [monday]\n"
    )
    (tmp_path / "ok.yaml").write_text(base + 'greeting: {inbound: "Hi {sip_h_x_customer_id}"}\n')
    assert load_persona("ok", agents_dir=tmp_path, prompts_dir=tmp_path).name == "ok"
    (tmp_path / "bad.yaml").write_text(base + 'greeting: {inbound: "Hi {customer_id}"}\n')
    with pytest.raises(PersonaError, match="unknown variable {customer_id}"):
        load_persona("bad", agents_dir=tmp_path, prompts_dir=tmp_path)
