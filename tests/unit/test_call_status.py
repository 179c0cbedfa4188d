"""The call-status machine's table: complete, final statuses final, retries the one way on."""

from __future__ import annotations

import inspect

import pytest

from dialroom.call_status import (
    ALLOWED,
    FINAL,
    NEXT_ATTEMPT,
    TERMINAL,
    CallStatus,
    record_created,
    transition,
)


def test_every_status_has_an_entry_in_the_move_table() -> None:
    assert set(ALLOWED) == set(CallStatus)


def test_the_final_statuses_have_no_move_out() -> None:
    assert FINAL == {
        CallStatus.COMPLETED,
        CallStatus.REJECTED,
        CallStatus.FAILED,
        CallStatus.CANCELED,
    }
    assert all(not ALLOWED[status] for status in FINAL)


def test_busy_and_no_answer_lead_only_to_a_scheduled_retry() -> None:
    assert {CallStatus.BUSY, CallStatus.NO_ANSWER} == NEXT_ATTEMPT
    assert all(ALLOWED[status] == {CallStatus.SCHEDULED} for status in NEXT_ATTEMPT)
    assert TERMINAL == FINAL | NEXT_ATTEMPT


def test_nothing_moves_back_to_queued_or_into_an_attempt_already_under_way() -> None:
    targets = set().union(*ALLOWED.values())
    assert CallStatus.QUEUED not in targets  # a call is queued once, when it is accepted
    assert CallStatus.DIALING not in ALLOWED[CallStatus.DIALING]


def test_every_writer_must_name_the_attempt() -> None:
    attempt = inspect.signature(transition).parameters["attempt"]
    assert attempt.default is inspect.Parameter.empty
    assert attempt.kind is inspect.Parameter.KEYWORD_ONLY
    created = inspect.signature(record_created).parameters["attempt"]
    assert created.default is inspect.Parameter.empty


@pytest.mark.parametrize("status", sorted(set(CallStatus) - {"queued", "scheduled"}))
def test_a_call_cannot_be_created_past_waiting(status: CallStatus) -> None:
    with pytest.raises(ValueError, match="a call starts queued or scheduled"):
        record_created(None, "c0ffee", CallStatus(status), attempt=1)  # type: ignore[arg-type]
