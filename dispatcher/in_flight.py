"""Queue entries whose LiveKit dispatch is under way, several at once.

A dispatch is two or three LiveKit requests (the room, the room's dispatches unless the
attempt is fresh, the new dispatch).
One at a time, a burst of 40 calls queued behind each other's requests: on a loaded 2-core
box the 40th call reached `dialing` 10 s after the first (`bench/README.md`, `post_to_invite`).
So the dispatch loop keeps what must stay in order (calling hours, the slot under the caps,
the move to `dialing`) and hands the dispatch itself to a task, up to
DISPATCH_CONCURRENCY at once; with 1 (the default), it runs in the loop as before. Measured on
a 2-core box, 8 at once cut the queue wait but made the burst slower: its 40 jobs reached the
workers together and each took longer to start (`bench/README.md`, "Measured (2026-12-05)").

An entry stays in the queue's pending list until its task acknowledges it, as before, so a
dispatcher killed mid-flight leaves every unfinished one to be dispatched again (once: see
`dispatch.dispatch_once`). The ids in flight are shared with `DialStream`, which never hands
the loop an entry that a task of its own still holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger("dialroom.dispatcher")


class InFlight:
    def __init__(self, *, limit: int, ids: set[str]) -> None:
        self._limit = limit
        self._ids = ids  # `DialStream.in_flight`
        self._places = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def inline(self) -> bool:
        """One at a time, in the dispatch loop itself."""
        return self._limit == 1

    @property
    def busy(self) -> bool:
        return bool(self._tasks)

    async def run(self, entry_id: str, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` for the entry: inline when the limit is 1, else as a task once one of
        the limit's places is free (waiting for it keeps the loop from reading further)."""
        if self.inline:
            await work
            return
        try:
            await self._places.acquire()
        except asyncio.CancelledError:
            work.close()  # never started: nothing to undo
            raise
        self._ids.add(entry_id)
        task = asyncio.create_task(work, name=f"dispatch-{entry_id}")
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(entry_id, done))

    def _finished(self, entry_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._ids.discard(entry_id)
        self._places.release()
        if not task.cancelled() and (err := task.exception()) is not None:
            logger.error("dispatch of queue entry %s failed", entry_id, exc_info=err)

    async def drain(self) -> None:
        """Until every dispatch under way has ended (a burst's end)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def cancel(self) -> None:
        """Stop: each unfinished entry stays pending, to be dispatched again."""
        for task in self._tasks:
            task.cancel()
