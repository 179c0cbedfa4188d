"""`HistoryStore.import_calls`, the bulk load, against SQLite and PostgreSQL: imported calls
read back and list like recorded ones, their turns count in the stats, and a batch holding a
call the history already has changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from dialroom.history import CallFilter, HistoryStore
from dialroom.history.store import CALLS, TURNS
from tests.integration.test_history_store import T0, inbound, outbound


async def rows(history: HistoryStore, table: object) -> int:
    async with history.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_imported_calls_read_list_and_count_like_recorded_ones(
    history: HistoryStore,
) -> None:
    calls = [
        inbound("imp-in-1", at=T0, replies=(0.8, 1.2), trunk="ST_eu"),
        inbound("imp-in-2", at=T0 + 60, replies=(1.0,), persona="support"),
        outbound("imp-out-1", at=T0 + 120, campaign_id="cmp_1"),
    ]
    await history.import_calls(calls)
    await history.import_calls([])  # nothing to do

    for call in calls:
        assert await history.get(call.call_id) == call
    listed = await history.list(CallFilter())
    assert [c.call_id for c in listed] == ["imp-out-1", "imp-in-2", "imp-in-1"]
    assert [c.call_id for c in await history.list(CallFilter(trunk="ST_eu"))] == ["imp-in-1"]
    assert [c.call_id for c in await history.list(CallFilter(campaign_id="cmp_1"))] == ["imp-out-1"]
    assert await rows(history, TURNS) == 3
    stats = await history.stats(CallFilter(), bucket="day")
    assert sum(s.turns for s in stats.voice_to_voice) == 3


async def test_a_batch_with_a_known_call_fails_whole(history: HistoryStore) -> None:
    await history.import_calls([inbound("imp-known", replies=(0.9,))])
    with pytest.raises(IntegrityError):
        await history.import_calls(
            [inbound("imp-new", at=T0 + 5, replies=(1.1,)), inbound("imp-known", replies=(2.0,))]
        )
    assert await history.get("imp-new") is None
    assert await rows(history, CALLS) == 1
    assert await rows(history, TURNS) == 1
