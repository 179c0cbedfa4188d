"""Which numbers Dialroom calls, and as whom: the destination policy.

A number can be valid and still be one nobody should have a robot dial: premium-rate and
shared-cost lines bill the caller per minute, satellite networks (+870 Inmarsat, +881
Iridium and Globalstar) and the international networks (+882, +883, Thuraya among them) cost
dollars a minute, and personal and UAN numbers forward to wherever their owner points them.
So a deployment names the countries (ISO regions) and number types it calls, and anything
else is refused with the reason. Types are libphonenumber's, as its metadata classifies each
country's numbering plan, plus `satellite` and `international_network` for the country codes
above (libphonenumber calls those mobile or VoIP).

A caller id is the other half: a call may only show a number of the outbound trunk it goes
out on (`from_number` in the trunk's `numbers`), else it impersonates someone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

_TYPE_NAMES = {
    value: name.lower()
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}
SATELLITE_CODES = frozenset({870, 881})
INTERNATIONAL_NETWORK_CODES = frozenset({882, 883})
NUMBER_TYPES = frozenset({*_TYPE_NAMES.values(), "satellite", "international_network"})
# Called by default; premium_rate, shared_cost, satellite, international_network,
# personal_number, uan, pager, voicemail and unknown are not.
DEFAULT_TYPES = ("fixed_line", "mobile", "fixed_line_or_mobile", "toll_free", "voip")
_LABELS = {
    "premium_rate": "a premium-rate",
    "shared_cost": "a shared-cost",
    "personal_number": "a personal",
    "uan": "a UAN (universal access)",
    "international_network": "an international network",
    "unknown": "an unclassified",
}


@dataclass(frozen=True, kw_only=True)
class DestinationPolicy:
    countries: frozenset[str] = frozenset()  # ISO regions; empty: any
    types: frozenset[str] = frozenset(DEFAULT_TYPES)

    @classmethod
    def parse(cls, *, countries: str, types: str) -> DestinationPolicy:
        """From the settings' comma-separated lists; ValueError names an unknown entry."""
        return cls(countries=parse_countries(countries), types=parse_types(types))

    def refusal(self, number: str) -> str | None:
        """Why `number` (valid E.164) is not called, or None when it may be."""
        parsed = phonenumbers.parse(number, None)
        kind = number_type(parsed)
        if kind not in self.types:
            allowed = ", ".join(sorted(self.types))
            label = _LABELS.get(kind, "a " + kind.replace("_", " "))
            return f"{number} is {label} number, not called (DESTINATION_TYPES: {allowed})"
        region = phonenumbers.region_code_for_number(parsed) or "unknown"
        if self.countries and region not in self.countries:
            allowed = ", ".join(sorted(self.countries))
            return f"numbers in {region} are not called (DESTINATION_COUNTRIES: {allowed})"
        return None


def number_type(parsed: phonenumbers.PhoneNumber) -> str:
    if parsed.country_code in SATELLITE_CODES:
        return "satellite"
    if parsed.country_code in INTERNATIONAL_NETWORK_CODES:
        return "international_network"
    return _TYPE_NAMES.get(phonenumbers.number_type(parsed), "unknown")


def parse_types(text: str) -> frozenset[str]:
    types = _items(text, str.lower)
    if unknown := sorted(types - NUMBER_TYPES):
        raise ValueError(f"unknown number type {', '.join(unknown)}; known: {_known_types()}")
    return types


def parse_countries(text: str) -> frozenset[str]:
    countries = _items(text, str.upper)
    known = phonenumbers.SUPPORTED_REGIONS
    if unknown := sorted(countries - known):
        raise ValueError(f"unknown region {', '.join(unknown)}; use ISO codes like US, GB, DE")
    return countries


def caller_id_refusal(from_number: str, trunk: str, numbers: Iterable[str] | None) -> str | None:
    """Why `from_number` may not be shown on calls through `trunk` (whose caller ids are
    `numbers`, None when the trunk does not exist), or None."""
    if numbers is None:
        return f"the outbound trunk {trunk} does not exist on the LiveKit server"
    own = [n for n in numbers if n]
    if _digits(from_number) in {_digits(n) for n in own}:
        return None
    listed = ", ".join(own) or "none"
    return f"{from_number} is not a number of the outbound trunk {trunk} (its numbers: {listed})"


def _digits(number: str) -> str:
    return number.lstrip("+")


def _items(text: str, normal: Callable[[str], str]) -> frozenset[str]:
    return frozenset(normal(item.strip()) for item in text.split(",") if item.strip())


def _known_types() -> str:
    return ", ".join(sorted(NUMBER_TYPES))
