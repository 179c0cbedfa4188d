"""SIP results map to call statuses by class, which decides whether a call is retried."""

from __future__ import annotations

import pytest

from dialroom.call_status import CallStatus
from worker.outbound import status_for_sip_code


@pytest.mark.parametrize(
    ("code", "twirp", "status"),
    [
        (486, "", CallStatus.BUSY),
        (600, "", CallStatus.BUSY),
        (480, "", CallStatus.NO_ANSWER),
        (408, "", CallStatus.NO_ANSWER),
        (None, "canceled", CallStatus.NO_ANSWER),  # livekit-sip's own ringing timeout
        (603, "", CallStatus.REJECTED),
        (404, "", CallStatus.REJECTED),
        (503, "", CallStatus.FAILED),
        (None, "internal", CallStatus.FAILED),
    ],
)
def test_sip_codes_map_to_statuses(code: int | None, twirp: str, status: CallStatus) -> None:
    assert status_for_sip_code(code, twirp) is status
