"""What a bridge error on a REFER means for the call (worker.tools.transfer.refer_error)."""

from __future__ import annotations

from livekit import api

from worker.tools.transfer import ReferAnswerLost, TransferFailed, refer_error

# What livekit-sip v1.8.0 answered when the phone's 202 lost its race with the transaction's end.
LOST = "twirp error unknown: transaction failed to complete (0 intermediate responses)"


def test_an_answer_the_bridge_lost_is_not_a_failed_transfer() -> None:
    err = refer_error(api.TwirpError("canceled", LOST, status=408))
    assert isinstance(err, ReferAnswerLost)


def test_a_refused_refer_is_a_failed_transfer() -> None:
    refused = api.TwirpError("unavailable", "call transfer failed: 603 Decline", status=503)
    err = refer_error(refused)
    assert isinstance(err, TransferFailed) and "603" in str(err)
