"""Latency at the phone, from its recording, and the limits a scenario file sets on it.

- greeting: media active -> the first voiced audio of the recording;
- voice to voice, per caller line: the line's last voiced sample (as played) -> the next
  voiced audio from the agent. A line with no reply gives no number (the words check says so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from callcheck.phone_result import CallResult
from callcheck.scenario import Scenario
from callcheck.voice import first_voice_offset, speech_end


@dataclass(frozen=True)
class Timings:
    greeting_s: float | None
    voice_to_voice_s: list[float | None] = field(default_factory=list)  # one per line said

    @property
    def voice_to_voice_p95_s(self) -> float | None:
        return p95([s for s in self.voice_to_voice_s if s is not None])


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile by nearest rank (with few turns: the slowest one)."""
    if not values:
        return None
    ranked = sorted(values)
    return ranked[max(0, math.ceil(0.95 * len(ranked)) - 1)]


def measure(call: CallResult) -> Timings:
    """The call's greeting and voice-to-voice latencies, from the phone's clock and recording."""
    if call.recording is None or call.media_active_at is None:
        return Timings(greeting_s=None)
    starts = [play.started_at - call.media_active_at for play in call.plays]
    greeting = first_voice_offset(call.recording)
    if greeting is not None and starts and greeting >= starts[0]:
        greeting = None  # nothing was heard before the first line
    replies: list[float | None] = []
    for i, play in enumerate(call.plays):
        line_end = starts[i] + speech_end(play.file)
        heard = first_voice_offset(call.recording, after_s=line_end)
        next_start = starts[i + 1] if i + 1 < len(starts) else math.inf
        replies.append(None if heard is None or heard >= next_start else heard - line_end)
    return Timings(greeting_s=greeting, voice_to_voice_s=replies)


def over_limits(scenario: Scenario, timings: Timings) -> list[str]:
    """Each latency limit of `scenario` that `timings` breaks, one sentence each."""
    problems: list[str] = []
    if (limit := scenario.max_greeting_s) is not None:
        got = timings.greeting_s
        if got is None:
            problems.append(f"max_greeting_s: no greeting was heard (limit {limit:.2f}s)")
        elif got > limit:
            problems.append(f"max_greeting_s: the greeting took {got:.2f}s (limit {limit:.2f}s)")
    if (limit := scenario.max_voice_to_voice_p95_s) is not None:
        got = timings.voice_to_voice_p95_s
        if got is None:
            problems.append(f"max_voice_to_voice_p95_s: no reply was heard (limit {limit:.2f}s)")
        elif got > limit:
            problems.append(
                f"max_voice_to_voice_p95_s: p95 {got:.2f}s over "
                f"{len(timings.voice_to_voice_s)} line(s) (limit {limit:.2f}s)"
            )
    return problems
