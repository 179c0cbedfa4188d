"""Masking of personal data before it reaches a log line."""

from __future__ import annotations


def mask_number(number: str | None) -> str:
    """`+15551234567` -> `+1555***4567`: enough to tell calls apart, not enough to dial."""
    if not number:
        return "-"
    if len(number) <= 8:
        return number[:2] + "***"
    return number[:5] + "***" + number[-4:]
