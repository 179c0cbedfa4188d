"""A call's per-turn latency as a waterfall: where each stage of one agent reply began and
ended, from the moment the caller stopped speaking.

The record measures each stage's length (`dialroom.calls.TurnLatency`); the waterfall places
them as they happen: end of turn and STT both start when the caller stops; the LLM is asked
once the turn is judged over; the TTS starts on the LLM's first token; voice-to-voice spans
the whole wait the caller lived through. One scale for every turn of a call, so turns can be
compared by eye.
"""

from __future__ import annotations

from dataclasses import dataclass

from dialroom.calls import TurnLatency

STAGES = (
    ("end_of_turn", "end of turn"),
    ("stt", "STT final"),
    ("llm", "LLM first token"),
    ("tts", "TTS first audio"),
    ("voice_to_voice", "voice-to-voice"),
)


@dataclass(frozen=True)
class Bar:
    stage: str
    label: str
    seconds: float | None  # None: not measured in this turn
    left_pct: float = 0.0
    width_pct: float = 0.0


@dataclass(frozen=True)
class TurnBars:
    at: float
    bars: list[Bar]


def spans(turn: TurnLatency) -> dict[str, tuple[float, float] | None]:
    """Each stage's (start, end) in seconds after the caller stopped speaking."""
    eot = turn.end_of_turn_s or 0.0
    llm_end = eot + turn.llm_ttft_s if turn.llm_ttft_s is not None else None

    def span(start: float | None, length: float | None) -> tuple[float, float] | None:
        return None if start is None or length is None else (start, start + length)

    return {
        "end_of_turn": span(0.0, turn.end_of_turn_s),
        "stt": span(0.0, turn.stt_s),
        "llm": span(eot, turn.llm_ttft_s),
        "tts": span(llm_end, turn.tts_ttfb_s),
        "voice_to_voice": span(0.0, turn.voice_to_voice_s),
    }


def waterfall(turns: list[TurnLatency]) -> tuple[list[TurnBars], float]:
    """Every turn's bars, as percentages of the call's longest span, and that span (s)."""
    placed = [spans(t) for t in turns]
    scale = max((end for s in placed for v in s.values() if v for end in v[1:]), default=0.0)
    rows = [TurnBars(at=t.at, bars=_bars(s, scale)) for t, s in zip(turns, placed, strict=True)]
    return rows, scale


def _bars(placed: dict[str, tuple[float, float] | None], scale: float) -> list[Bar]:
    bars = []
    for stage, label in STAGES:
        span = placed[stage]
        if span is None or scale <= 0:
            bars.append(Bar(stage=stage, label=label, seconds=None if span is None else 0.0))
            continue
        start, end = span
        left = min(100.0, 100.0 * start / scale)
        width = min(100.0 - left, 100.0 * (end - start) / scale)
        bars.append(
            Bar(
                stage=stage,
                label=label,
                seconds=end - start,
                left_pct=round(left, 2),
                width_pct=round(max(width, 0.5), 2),
            )
        )
    return bars
