"""The call history against real databases, SQLite and PostgreSQL: what is recorded reads
back whole, listings filter and page, erasure and retention leave nothing behind, stats
count, and the migrations go up from nothing and back down."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from sqlalchemy import func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from dialroom.call_status import CallStatus
from dialroom.calls import CallRecord, TranscriptLine, TurnLatency
from dialroom.history import ArchivedCall, CallFilter, HistoryStore
from dialroom.history.call import Position
from dialroom.history.migrate import downgrade, upgrade
from dialroom.history.store import CALLS, TURNS, _row, create_engine
from dialroom.paths import ROOT

T0 = 1_764_300_000.0  # 2025-11-28 03:20 UTC


def inbound(
    call_id: str, *, at: float = T0, replies: tuple[float, ...] = (), **more: object
) -> ArchivedCall:
    record = CallRecord(
        call_id=call_id,
        persona=str(more.get("persona", "demo")),
        direction="inbound",
        room=f"call-{call_id}",
        caller_number=str(more.get("caller_number", "+14155550123")),
        called_number="+15550001111",
        trunk=str(more.get("trunk", "ST_main")),
        started_at=at,
        ended_at=at + 30,
        outcome=str(more.get("outcome", "caller_hung_up")),
        transcript=[TranscriptLine(role="caller", text="hello", at=at + 2)],
        turns=[TurnLatency(at=at + i, voice_to_voice_s=s) for i, s in enumerate(replies)],
    )
    fields = {
        "call_id": call_id,
        "direction": "inbound",
        "persona": record.persona,
        "outcome": record.outcome,
        "started_at": at,
        "ended_at": at + 30,
        "caller_number": record.caller_number,
        "called_number": record.called_number,
        "record": record,
    }
    return ArchivedCall.model_validate(
        {**fields, **{k: v for k, v in more.items() if k in ArchivedCall.model_fields}}
    )


def outbound(
    call_id: str, *, at: float = T0, status: CallStatus = CallStatus.CANCELED, **more: object
) -> ArchivedCall:
    return ArchivedCall.model_validate(
        {
            "call_id": call_id,
            "direction": "outbound",
            "persona": "survey",
            "outcome": status.value,
            "status": status,
            "started_at": at,
            "ended_at": at + 1,
            "called_number": "+442079460000",
            **more,
        }
    )


async def count(engine: AsyncEngine, table: object, call_id: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.call_id == call_id)  # type: ignore[attr-defined]
        return int(await conn.scalar(query) or 0)


async def test_a_recorded_call_reads_back_whole(history: HistoryStore) -> None:
    call = inbound("in-1", replies=(0.8, 1.2))
    await history.record(call)
    assert await history.get("in-1") == call
    assert await history.get("nosuch") is None
    assert await count(history.engine, TURNS, "in-1") == 2


async def test_recording_a_call_again_replaces_it(history: HistoryStore) -> None:
    await history.record(outbound("out-1", status=CallStatus.BUSY))
    await history.record(outbound("out-1", status=CallStatus.COMPLETED, outcome="agent_hung_up"))
    again = await history.get("out-1")
    assert again is not None and again.status == CallStatus.COMPLETED
    assert again.outcome == "agent_hung_up"
    assert await count(history.engine, CALLS, "out-1") == 1


async def test_replies_are_replaced_not_added_when_recorded_again(history: HistoryStore) -> None:
    await history.record(inbound("in-2", replies=(1.0, 2.0)))
    await history.record(inbound("in-2", replies=(1.0, 2.0)))
    assert await count(history.engine, TURNS, "in-2") == 2


async def test_list_filters_by_every_field(history: HistoryStore) -> None:
    await history.record(inbound("in-a", at=T0, caller_number="+14155550123"))
    await history.record(
        inbound(
            "in-b",
            at=T0 + 10,
            persona="receptionist",
            outcome="lines_busy",
            caller_number="+14155559876",
        )
    )
    await history.record(outbound("out-a", at=T0 + 20, campaign_id="camp-1"))
    await history.record(outbound("out-b", at=T0 + 30, status=CallStatus.FAILED))

    async def ids(**where: object) -> list[str]:
        return [c.call_id for c in await history.list(CallFilter.model_validate(where))]

    assert await ids() == ["out-b", "out-a", "in-b", "in-a"]
    assert await ids(direction="inbound") == ["in-b", "in-a"]
    assert await ids(persona="receptionist") == ["in-b"]
    assert await ids(outcome="lines_busy") == ["in-b"]
    assert await ids(status="failed") == ["out-b"]
    assert await ids(campaign_id="camp-1") == ["out-a"]
    assert await ids(number="+14155550123") == ["in-a"]
    assert await ids(number="9876") == ["in-b"]
    assert await ids(number="0000") == ["out-b", "out-a"]
    assert await ids(number="59876") == ["in-b"]  # more than the indexed four: whole suffix
    assert await ids(number="876") == ["in-b"]  # fewer: a scan, same answer
    assert await ids(number="19876") == []  # the last four match, the suffix does not
    assert await ids(since=T0 + 10, until=T0 + 30) == ["out-a", "in-b"]


async def test_pages_cover_every_call_once_in_order(history: HistoryStore) -> None:
    for i in range(7):
        await history.record(outbound(f"out-{i}", at=T0 + (i // 2)))  # pairs share a start
    seen: list[str] = []
    after: Position | None = None
    while page := await history.list(CallFilter(), after=after, limit=3):
        seen += [c.call_id for c in page]
        after = Position(started_at=page[-1].started_at, call_id=page[-1].call_id)
    assert seen == ["out-6", "out-5", "out-4", "out-3", "out-2", "out-1", "out-0"]


async def test_a_deleted_call_leaves_nothing(history: HistoryStore) -> None:
    await history.record(inbound("in-x", replies=(1.0,)))
    await history.record(inbound("in-y", replies=(1.0,)))
    assert await history.delete("in-x") is True
    assert await history.get("in-x") is None
    assert await count(history.engine, CALLS, "in-x") == 0
    assert await count(history.engine, TURNS, "in-x") == 0
    assert await history.delete("in-x") is False
    assert await history.get("in-y") is not None


async def test_prune_removes_only_calls_older_than_the_limit(history: HistoryStore) -> None:
    await history.record(inbound("old", at=T0 - 100 * 86400, replies=(1.0,)))
    await history.record(inbound("new", at=T0, replies=(1.0,)))
    assert await history.prune(older_than=T0 - 90 * 86400) == 1
    assert await history.get("old") is None and await history.get("new") is not None
    assert await count(history.engine, TURNS, "old") == 0


async def test_stats_count_outcomes_and_latency_percentiles_per_hour(history: HistoryStore) -> None:
    hour = 3600 * (T0 // 3600)
    await history.record(inbound("a", at=hour + 10, replies=tuple(n / 10 for n in range(1, 21))))
    await history.record(inbound("b", at=hour + 20, outcome="lines_busy"))
    await history.record(inbound("c", at=hour + 3700, persona="receptionist", replies=(2.0,)))
    stats = await history.stats(CallFilter(), bucket="hour")
    assert [(o.start, o.outcome, o.calls) for o in stats.outcomes] == [
        (hour, "caller_hung_up", 1),
        (hour, "lines_busy", 1),
        (hour + 3600, "caller_hung_up", 1),
    ]
    [demo, receptionist] = stats.voice_to_voice
    assert (demo.persona, demo.turns, demo.p50_s, demo.p95_s) == ("demo", 20, 1.0, 1.9)
    assert (receptionist.start, receptionist.p50_s) == (hour + 3600, 2.0)
    daily = await history.stats(CallFilter(persona="demo"), bucket="day")
    assert sum(o.calls for o in daily.outcomes) == 2


async def test_stats_give_latency_per_trunk_and_calls_filter_by_trunk(
    history: HistoryStore,
) -> None:
    hour = 3600 * (T0 // 3600)
    await history.record(inbound("a", at=hour + 10, replies=(1.0, 3.0), trunk="ST_cheap"))
    await history.record(inbound("b", at=hour + 20, replies=(0.5,), trunk="ST_good"))
    stats = await history.stats(CallFilter(), bucket="hour")
    by_trunk = {(t.trunk, t.turns, t.p50_s, t.p95_s) for t in stats.voice_to_voice_by_trunk}
    assert by_trunk == {("ST_cheap", 2, 1.0, 3.0), ("ST_good", 1, 0.5, 0.5)}
    [demo] = stats.voice_to_voice  # the same replies, per persona
    assert demo.turns == 3
    page = await history.list(CallFilter(trunk="ST_good"), limit=10)
    assert [call.call_id for call in page] == ["b"]


async def test_migrations_upgrade_an_empty_database_and_go_back_down(history_url: str) -> None:
    engine = create_engine(history_url)
    try:
        await upgrade(engine)
        assert {"calls", "call_turns", "alembic_version"} <= await _tables(engine)
        await downgrade(engine, "base")
        assert await _tables(engine) & {"calls", "call_turns"} == set()
        await upgrade(engine)  # and up again, as a restarted process would
        assert {"calls", "call_turns"} <= await _tables(engine)
    finally:
        await engine.dispose()


async def test_the_number_tails_migration_fills_calls_already_stored(history_url: str) -> None:
    """Calls archived before 0006 have no `caller_tail`: the migration computes it in SQL, so
    a search by last digits still finds them."""
    engine = create_engine(history_url)
    try:
        await upgrade(engine, "0005")
        row = _row(inbound("old", caller_number="+14155557788"))
        del row["caller_tail"], row["called_tail"]
        columns = ", ".join(row)
        async with engine.begin() as conn:
            await conn.execute(
                text(f"INSERT INTO calls ({columns}) VALUES ({', '.join(':' + k for k in row)})"),
                row,
            )
        await upgrade(engine)
        store = HistoryStore(engine)
        assert [c.call_id for c in await store.list(CallFilter(number="57788"))] == ["old"]
        assert [c.call_id for c in await store.list(CallFilter(number="1111"))] == ["old"]
    finally:
        await engine.dispose()


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


def test_two_processes_starting_at_once_both_find_the_schema_at_head(history_url: str) -> None:
    """The API and the dispatcher start together on a new database: both migrate, one wins,
    the other finds the schema already there."""
    script = (
        "import asyncio, sys; from dialroom.history import open_history\n"
        "async def main():\n"
        "    store = await open_history(sys.argv[1]); await store.close()\n"
        "asyncio.run(main())"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, history_url], cwd=ROOT) for _ in range(2)
    ]
    assert [p.wait(timeout=60) for p in processes] == [0, 0]

    async def tables() -> set[str]:
        engine = create_engine(history_url)
        try:
            return await _tables(engine)
        finally:
            await engine.dispose()

    assert {"calls", "call_turns"} <= asyncio.run(tables())
