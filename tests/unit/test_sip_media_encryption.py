"""`media_encryption` on a trunk: SRTP off by default (as in LiveKit), `allow` or `require`
reach LiveKit's trunk as its `SIPMediaEncryption`, read back the same, and a bad value is one
error naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit import api

from dialroom.paths import AGENTS_DIR
from sip.objects import (
    _inbound_view,
    _outbound_view,
    desired_views,
    inbound_proto,
    outbound_proto,
)
from sip.plan import make_plan
from sip.spec import SpecError, load_spec

TEMPLATE = """
inbound:
  - name: main
    allowed_addresses: ["10.0.0.0/24"]
{inbound}outbound:
  - name: out
    address: sip.example.com:5061
    transport: tls
    numbers: ["+15551230000"]
{outbound}dispatch:
  - name: main
    trunks: [main]
"""
ENC = api.SIPMediaEncryption


def views(tmp_path: Path, inbound: str = "", outbound: str = "") -> list:
    path = tmp_path / "telephony.yaml"
    path.write_text(TEMPLATE.format(inbound=inbound, outbound=outbound))
    spec = load_spec(path, agents_dir=AGENTS_DIR)
    return desired_views(spec, {}, agent_name="dialroom")


def test_the_default_is_unencrypted_media_as_in_livekit(tmp_path: Path) -> None:
    trunk_in, trunk_out, _ = views(tmp_path)
    assert inbound_proto(trunk_in).media_encryption == ENC.SIP_MEDIA_ENCRYPT_DISABLE
    assert outbound_proto(trunk_out).media_encryption == ENC.SIP_MEDIA_ENCRYPT_DISABLE


@pytest.mark.parametrize(
    ("value", "sent"),
    [("allow", ENC.SIP_MEDIA_ENCRYPT_ALLOW), ("require", ENC.SIP_MEDIA_ENCRYPT_REQUIRE)],
)
def test_each_trunk_sends_its_value_and_reads_it_back_unchanged(
    tmp_path: Path, value: str, sent: int
) -> None:
    line = f"    media_encryption: {value}\n"
    desired = views(tmp_path, inbound=line, outbound=line)
    trunk_in, trunk_out, _ = desired
    live_in = _inbound_view(inbound_proto(trunk_in))
    live_out = _outbound_view(outbound_proto(trunk_out))
    assert live_in.raw.media_encryption == sent and live_out.raw.media_encryption == sent
    assert live_in.fields["media_encryption"] == live_out.fields["media_encryption"] == value
    # Read back as the file says it, so a second apply plans no change...
    assert make_plan(desired[:2], [live_in, live_out]).empty
    # ...and a trunk switched back to plain RTP on the server is drift to repair.
    plain = views(tmp_path)  # the same trunks, without the line
    (change,) = make_plan(desired[:1], [_inbound_view(inbound_proto(plain[0]))]).changes
    assert change.action == "update"
    assert [d.describe() for d in change.diffs] == [f"media_encryption: disable → {value}"]


@pytest.mark.parametrize(
    ("inbound", "outbound", "field"),
    [
        ("    media_encryption: srtp\n", "", "inbound.0.media_encryption"),
        ("", "    media_encryption: true\n", "outbound.0.media_encryption"),
    ],
)
def test_a_bad_value_names_the_file_the_field_and_the_choices(
    tmp_path: Path, inbound: str, outbound: str, field: str
) -> None:
    with pytest.raises(SpecError) as err:
        views(tmp_path, inbound=inbound, outbound=outbound)
    assert str(err.value).startswith(f"telephony.yaml: {field}: ")
    assert "'disable', 'allow' or 'require'" in str(err.value)
