"""The destination policy: number types and countries as settings, satellite networks told
apart, and caller ids checked against the trunk's numbers."""

from __future__ import annotations

import pytest

from dialroom.destinations import DEFAULT_TYPES, DestinationPolicy, caller_id_refusal

pytestmark = pytest.mark.unit

DEFAULT = DestinationPolicy()


@pytest.mark.parametrize(
    "number", ["+14155550123", "+4915123456789", "+442079460000", "+18005550123", "+4930123456"]
)
def test_ordinary_numbers_are_called_by_default(number: str) -> None:
    assert DEFAULT.refusal(number) is None


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("+19005550123", "premium-rate"),
        ("+448712345678", "premium-rate"),
        ("+33810123456", "shared-cost"),
        ("+8816123456789", "satellite"),
        ("+870772123456", "satellite"),
        ("+88216123456", "international network"),
        ("+447012345678", "personal"),
        ("+445512345678", "UAN"),
    ],
)
def test_costly_and_forwarding_numbers_are_refused_by_default(number: str, kind: str) -> None:
    refusal = DEFAULT.refusal(number)
    assert refusal is not None and f"{number} is a" in refusal and kind in refusal


def test_countries_and_types_are_parsed_from_settings() -> None:
    policy = DestinationPolicy.parse(countries="us, gb", types="mobile,fixed_line_or_mobile")
    assert policy.refusal("+14155550123") is None
    assert policy.refusal("+4915123456789") == (
        "numbers in DE are not called (DESTINATION_COUNTRIES: GB, US)"
    )
    assert "fixed line number" in str(policy.refusal("+442079460000"))
    with pytest.raises(ValueError, match="unknown number type premium"):
        DestinationPolicy.parse(countries="", types="premium")
    with pytest.raises(ValueError, match="unknown region XX"):
        DestinationPolicy.parse(countries="XX", types=",".join(DEFAULT_TYPES))


def test_a_caller_id_must_be_one_of_the_trunks_numbers() -> None:
    assert caller_id_refusal("+14155550100", "out", ["+14155550100"]) is None
    assert caller_id_refusal("+14155550100", "out", ["14155550100"]) is None  # stored without +
    assert caller_id_refusal("+14155550199", "out", ["+14155550100"]) == (
        "+14155550199 is not a number of the outbound trunk out (its numbers: +14155550100)"
    )
    assert "does not exist" in str(caller_id_refusal("+14155550100", "gone", None))
