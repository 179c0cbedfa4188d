"""Modules a call process imports during its call, logged when the call ends.

A module first imported on a call's loop is CPU spent while a caller waits (0.2-0.8 s of
blocked loop each on a loaded box, in the loop monitor's "event loop blocked ... importing"
lines) that the forkserver could have spent once for every call (`worker.preload`). A call
process notes what it holds when it is made ready (`prewarm`); when its call ends it logs what
came since, so a missing preload shows in the log of the first call that paid for it. A
persona with local speech imports its engines' glue here on purpose (never preloaded: a cloud
call must not carry it), so this is information, not a warning.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("dialroom.worker.imports")
SHOWN = 12  # names in the log line; the count says how many more

_ready_with: frozenset[str] = frozenset()


def note_ready() -> None:
    """Once the process is ready for a call: what it holds now counts as preloaded."""
    global _ready_with
    _ready_with = frozenset(sys.modules)


def imported_since_ready() -> list[str]:
    return sorted(set(sys.modules) - _ready_with)


async def report(call_id: str, persona: str) -> None:
    late = imported_since_ready()
    if not late:
        return
    shown = ", ".join(late[:SHOWN]) + (", ..." if len(late) > SHOWN else "")
    logger.info(
        "call %s (persona %s): its process imported %d modules during the call (%s): CPU "
        "spent while the caller waited; what every call imports belongs in worker.preload",
        call_id,
        persona,
        len(late),
        shown,
    )
