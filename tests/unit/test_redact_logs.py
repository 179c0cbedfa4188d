"""livekit-agents' own log lines name a SIP caller by `sip_<number>`: once the worker's filter
is installed, the number is masked there as in Dialroom's own lines."""

from __future__ import annotations

import logging

import pytest

from worker import redact_logs


def test_the_framework_s_personal_fields_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    redact_logs.install()
    redact_logs.install()  # once is enough: no second filter
    framework = logging.getLogger("livekit.agents")
    assert sum(isinstance(f, redact_logs.MaskNumbers) for f in framework.filters) == 1
    with caplog.at_level(logging.INFO, logger="livekit.agents"):
        framework.info(
            "RoomIO linked to participant",
            extra={
                "lk.pii.participant_identity": "sip_+15551234567",
                "lk.pii.room_name": "call-_15550100000_Ab3dE",
                "lk.pii.dtmf_inputs": "1 2 3",
            },
        )
    [record] = caplog.records
    assert vars(record)["lk.pii.participant_identity"] == "sip_+1555***4567"
    assert vars(record)["lk.pii.room_name"] == "call-_15550***0000_Ab3dE"
    assert vars(record)["lk.pii.dtmf_inputs"] == "1 2 3"  # short runs are not numbers
