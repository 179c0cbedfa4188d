"""The latency waterfall places each stage where it happens, on one scale per call."""

from __future__ import annotations

import pytest

from api.console.waterfall import spans, waterfall
from dialroom.calls import TurnLatency

pytestmark = pytest.mark.unit


def test_the_llm_waits_for_the_end_of_turn_and_the_tts_for_the_llm() -> None:
    turn = TurnLatency(
        at=1.0, end_of_turn_s=0.5, stt_s=0.3, llm_ttft_s=0.4, tts_ttfb_s=0.2, voice_to_voice_s=1.2
    )
    placed = spans(turn)
    assert placed["end_of_turn"] == (0.0, 0.5)
    assert placed["stt"] == (0.0, 0.3)
    assert placed["llm"] == pytest.approx((0.5, 0.9))
    assert placed["tts"] == pytest.approx((0.9, 1.1))
    assert placed["voice_to_voice"] == (0.0, 1.2)


def test_bars_share_the_longest_span_of_the_call() -> None:
    fast = TurnLatency(at=1.0, end_of_turn_s=0.2, voice_to_voice_s=1.0)
    slow = TurnLatency(at=2.0, end_of_turn_s=0.4, voice_to_voice_s=2.0)
    rows, scale = waterfall([fast, slow])
    assert scale == 2.0
    v2v = [next(b for b in row.bars if b.stage == "voice_to_voice") for row in rows]
    assert [b.width_pct for b in v2v] == [50.0, 100.0]
    eot = next(b for b in rows[1].bars if b.stage == "end_of_turn")
    assert (eot.left_pct, eot.width_pct) == (0.0, 20.0)


def test_an_unmeasured_stage_has_no_bar() -> None:
    rows, _ = waterfall([TurnLatency(at=1.0, voice_to_voice_s=0.8)])
    llm = next(b for b in rows[0].bars if b.stage == "llm")
    assert llm.seconds is None and llm.width_pct == 0.0


def test_a_call_without_turns_has_no_waterfall() -> None:
    assert waterfall([]) == ([], 0.0)
