"""How long `start.py up` waits before it starts a crashed process again.

A process that crashes once is started again after a second; one that keeps crashing waits
twice as long each time, up to a minute, so a crash loop costs little CPU and its log stays
readable. A process that ran for a while before it crashed starts over at a second.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    first_s: float = 1.0
    factor: float = 2.0
    max_s: float = 60.0
    # A process that ran this long had a good run: its next crash counts as the first.
    stable_s: float = 60.0

    def crashes_in_a_row(self, *, before: int, ran_s: float) -> int:
        """The count after one more crash of a process that ran `ran_s` seconds."""
        return 1 if ran_s >= self.stable_s else before + 1

    def delay_s(self, crashes_in_a_row: int) -> float:
        return min(self.max_s, self.first_s * self.factor ** max(0, crashes_in_a_row - 1))
