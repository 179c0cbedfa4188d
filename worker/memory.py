"""What a call knows of its caller's earlier calls (persona `memory:`): `{caller_memory}`.

Read once, at call start, before the agent is built, straight from the call history's
database (the archiver writes it; the worker only reads, and never migrates it). The caller
is never kept waiting on it: a slow or unreachable database, or one not yet migrated, gives
an empty memory and a log line, and the call goes on.
"""

from __future__ import annotations

import asyncio
import logging

from dialroom.history.memory import as_prompt, recall
from dialroom.history.store import create_engine
from dialroom.persona import Persona
from dialroom.redact import mask_number
from worker.call_state import CallState

logger = logging.getLogger("dialroom.worker.memory")
RECALL_TIMEOUT_S = 2.0


def other_party(state: CallState) -> str | None:
    return state.caller_number if state.direction == "inbound" else state.called_number


async def caller_memory(persona: Persona, state: CallState, history_url: str) -> str | None:
    """The notes of the other party's earlier calls, one line each, newest first; None when
    the persona keeps no memory, the number is unknown, or nothing is kept on it."""
    number = other_party(state)
    if persona.memory is None or not persona.memory.enabled or not number:
        return None
    engine = create_engine(history_url)
    try:
        async with asyncio.timeout(RECALL_TIMEOUT_S):
            notes = await recall(engine, number)
    except Exception as err:  # the call goes on without its memory
        logger.warning("call %s: caller memory not read: %s", state.call_id, err)
        return None
    finally:
        await engine.dispose()
    if notes:
        logger.info("call %s: %d note(s) on %s", state.call_id, len(notes), mask_number(number))
    return as_prompt(notes) or None
