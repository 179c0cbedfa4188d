"""Phone numbers out of livekit-agents' own log lines.

LiveKit names a SIP caller's participant `sip_<caller number>`, and the framework logs that
identity (and the room name) in fields it marks as personal data, `lk.pii.*` ("RoomIO linked
to participant"). Those marks only steer its telemetry exporters, not the log lines; this
filter masks every phone number in them, as Dialroom's own lines do (`mask_number`).
"""

from __future__ import annotations

import logging
import re

from dialroom.redact import mask_number

PII_PREFIX = "lk.pii."
_NUMBER = re.compile(r"\+?\d{7,}")
_FRAMEWORK_LOGGER = "livekit.agents"


class MaskNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(vars(record).items()):
            if key.startswith(PII_PREFIX) and isinstance(value, str):
                setattr(record, key, mask_numbers(value))
        return True


def mask_numbers(text: str) -> str:
    """Every run of 7 or more digits in `text`, masked: `sip_+15551234567` ->
    `sip_+1555***4567`."""
    return _NUMBER.sub(lambda m: mask_number(m.group(0)), text)


def install() -> None:
    """Mask the framework's personal fields in this process (once; safe to call again)."""
    framework = logging.getLogger(_FRAMEWORK_LOGGER)
    if not any(isinstance(f, MaskNumbers) for f in framework.filters):
        framework.addFilter(MaskNumbers())
