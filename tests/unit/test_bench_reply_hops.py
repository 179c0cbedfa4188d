"""`bench.reply_hops`: a phone's reply cut at its call record's marks, paired by caller."""

from __future__ import annotations

import pytest

from bench.capacity import caller_of
from bench.first_call import CallTiming
from bench.reply_hops import PhoneReply, phone_replies, split, worker_replies


def exported(
    caller: str,
    answered: float,
    stopped: float | None,
    started: float | None,
    **stages: float | None,
) -> dict:
    """One call as `GET /api/calls/export?format=jsonl` gives it (the fields read here)."""
    turn = {"at": started or 0.0, "caller_stopped_at": stopped, "agent_started_at": started}
    turn.update(stages)
    return {
        "call_id": f"call-{caller}-{answered}",
        "caller_number": caller,
        "started_at": answered - 0.5,
        "record": {"answered_at": answered, "turns": [turn]},
    }


def test_a_reply_splits_into_hops_that_add_up_to_what_the_phone_heard() -> None:
    phone = [PhoneReply(caller="caller01", answered_at=100.0, caller_end_at=109.0, reply_at=111.5)]
    worker = worker_replies([exported("caller01", 100.1, stopped=109.6, started=111.2)])

    [hops] = split(phone, worker)

    assert hops.inbound_s == pytest.approx(0.6)
    assert hops.worker_s == pytest.approx(1.6)
    assert hops.outbound_s == pytest.approx(0.3)
    assert hops.inbound_s + hops.worker_s + hops.outbound_s == pytest.approx(2.5)


def test_calls_pair_by_their_caller_not_by_their_order() -> None:
    phone = [
        PhoneReply(caller="caller01", answered_at=100.0, caller_end_at=109.0, reply_at=111.0),
        PhoneReply(caller="caller02", answered_at=100.2, caller_end_at=109.2, reply_at=113.2),
    ]
    # caller02's record was answered first at the worker: order alone would swap them
    worker = worker_replies(
        [
            exported("caller02", 99.9, stopped=109.4, started=112.9),
            exported("caller01", 100.3, stopped=109.1, started=110.9),
        ]
    )

    hops = sorted(split(phone, worker), key=lambda h: h.worker_s)

    assert [round(h.worker_s, 2) for h in hops] == [1.8, 3.5]
    assert [round(h.outbound_s, 2) for h in hops] == [0.1, 0.3]


def test_one_number_with_a_reply_missing_at_one_end_is_left_out() -> None:
    phone = [
        PhoneReply(caller="caller01", answered_at=100.0, caller_end_at=109.0, reply_at=111.0),
        PhoneReply(caller="caller01", answered_at=100.4, caller_end_at=109.4, reply_at=111.4),
        PhoneReply(caller="caller05", answered_at=100.1, caller_end_at=109.1, reply_at=111.1),
    ]
    worker = worker_replies(
        [
            exported("caller01", 100.1, stopped=109.2, started=110.8),  # its twin: no record
            exported("caller05", 100.2, stopped=109.3, started=110.9),
        ]
    )

    [hops] = split(phone, worker)

    assert hops.inbound_s == pytest.approx(0.2)


def test_records_without_both_marks_give_no_reply() -> None:
    records = [
        exported("caller01", 100.0, stopped=None, started=110.0),
        exported("caller02", 100.0, stopped=109.0, started=None),
        {"call_id": "never-answered", "caller_number": "caller03", "record": None},
    ]

    assert worker_replies(records) == []


def test_the_phones_replies_are_placed_on_the_wall_clock() -> None:
    timings = [
        CallTiming(call=1, media_active_at=100.0, caller_end_s=9.0, reply_s=1.5),
        CallTiming(call=2, media_active_at=100.2, caller_end_s=9.0, failure="no reply"),
    ]

    [reply] = phone_replies(timings, {1: caller_of(1), 2: caller_of(2)})

    assert reply == PhoneReply(
        caller="caller01", answered_at=100.0, caller_end_at=109.0, reply_at=110.5
    )


def test_the_worker_hop_keeps_its_record_s_stages_and_what_they_leave() -> None:
    phone = [PhoneReply(caller="caller01", answered_at=100.0, caller_end_at=109.0, reply_at=112.0)]
    stages = {"end_of_turn_s": 0.5, "llm_ttft_s": 0.3, "tts_ttfb_s": 0.4, "stt_s": 0.5}
    worker = worker_replies([exported("caller01", 100.1, stopped=109.2, started=111.7, **stages)])

    [hops] = split(phone, worker)

    assert hops.worker_s == pytest.approx(2.5)
    assert (hops.stages.end_of_turn_s, hops.stages.llm_ttft_s, hops.stages.tts_ttfb_s) == (
        0.5,
        0.3,
        0.4,
    )
    assert hops.unplaced_s == pytest.approx(1.3)


def test_a_stage_not_measured_leaves_nothing_unplaced() -> None:
    phone = [PhoneReply(caller="caller01", answered_at=100.0, caller_end_at=109.0, reply_at=112.0)]
    worker = worker_replies(
        [exported("caller01", 100.1, stopped=109.2, started=111.7, end_of_turn_s=0.5)]
    )

    [hops] = split(phone, worker)

    assert hops.stages.llm_ttft_s is None and hops.unplaced_s is None
