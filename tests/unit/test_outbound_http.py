"""Which addresses Dialroom's own requests refuse, and what development mode and
OUTBOUND_ALLOWED_HOSTS change."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dialroom.outbound_http import BlockedAddress, OutboundPolicy

pytestmark = pytest.mark.unit

PRODUCTION = OutboundPolicy()
DEV = OutboundPolicy(allow_loopback=True)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),
        ("0.0.0.0", "unspecified"),
        ("10.0.0.5", "private"),
        ("172.20.1.1", "private"),
        ("192.168.1.10", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.10.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("192.0.2.1", "reserved"),
    ],
)
def test_an_inside_address_is_refused_naming_why(address: str, reason: str) -> None:
    refusal = PRODUCTION.refusal("hooks.example", address)
    assert refusal is not None and f"a {reason} address" in refusal
    with pytest.raises(BlockedAddress, match=reason):
        PRODUCTION.check("hooks.example", ["93.184.216.34", address])  # one bad answer is enough


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_a_public_address_is_allowed(address: str) -> None:
    assert PRODUCTION.refusal("hooks.example", address) is None


def test_development_mode_allows_loopback_and_nothing_else_inside() -> None:
    assert DEV.refusal("localhost", "127.0.0.1") is None
    assert DEV.refusal("localhost", "::1") is None
    assert DEV.refusal("metadata", "169.254.169.254") is not None
    assert DEV.refusal("lan", "10.0.0.5") is not None


def test_allowed_hosts_come_from_the_setting_and_skip_the_check() -> None:
    settings = SimpleNamespace(
        dialroom_dev=False, outbound_allowed_hosts=" Hooks.Internal., 10.0.0.5"
    )
    policy = OutboundPolicy.from_settings(settings)
    assert policy.allowed_hosts == {"hooks.internal", "10.0.0.5"}
    policy.check("hooks.internal", ["10.1.1.1"])  # no BlockedAddress
    assert policy.literal_refusal("10.0.0.5") is None
    with pytest.raises(BlockedAddress):
        policy.check("other.internal", ["10.1.1.1"])


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("api.localhost", True),
        ("[::1]", True),
        ("169.254.169.254", True),
        ("hooks.example.com", False),
        ("93.184.216.34", False),
    ],
)
def test_a_literal_host_is_judged_before_any_request(host: str, refused: bool) -> None:
    assert (PRODUCTION.literal_refusal(host) is not None) is refused
