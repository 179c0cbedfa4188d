"""The archiver against a real Redis and a real SQLite history: a finished call moves to the
history and its Redis keys get a TTL, a live one stays, moving twice changes nothing, calls
that no worker touched arrive too, old calls are pruned, and an erased call leaves nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from dialroom import dial_queue
from dialroom.call_status import ENDED_KEY, STATUS_KEY, WEBHOOK_STATE_KEY, CallStatus
from dialroom.calls import (
    CALL_KEY,
    CALLS_BY_END,
    CALLS_TO_ARCHIVE,
    CallRecord,
    save_call_record,
)
from dialroom.dial import OutboundCall
from dialroom.history import HistoryStore, open_history
from dialroom.history.live import erase
from dialroom.paths import ROOT
from dialroom.settings import DEV_API_KEY, DEV_API_SECRET
from dispatcher.archive import Archiver
from tests.support.dispatching import eventually
from tests.support.history import sqlite_url
from tests.support.statuses import walk

pytestmark = pytest.mark.integration

TTL_S = 600


@pytest.fixture
async def sqlite_history(tmp_path: Path) -> AsyncIterator[HistoryStore]:
    store = await open_history(sqlite_url(tmp_path))
    yield store
    await store.close()


@pytest.fixture
def archiver(store: Redis, sqlite_history: HistoryStore) -> Archiver:
    return Archiver(store, sqlite_history, record_ttl_s=TTL_S, retention_days=90)


def worker_record(call_id: str, *, direction: str = "inbound", **more: object) -> CallRecord:
    now = time.time()
    fields = {
        "call_id": call_id,
        "persona": "demo",
        "direction": direction,
        "room": f"call-{call_id}",
        "caller_number": "+14155550123",
        "started_at": now - 20,
        "ended_at": now,
        "outcome": "caller_hung_up",
    }
    return CallRecord.model_validate({**fields, **more})


async def place(store: Redis, **more: object) -> str:
    order = OutboundCall.model_validate({"to_number": "+14155550199", "persona": "demo", **more})
    return (await dial_queue.enqueue(store, order)).call_id


async def test_an_inbound_call_moves_to_the_history_and_its_key_expires(
    store: Redis, archiver: Archiver, sqlite_history: HistoryStore
) -> None:
    await save_call_record(store, worker_record("in-1"))
    assert await archiver.step() == 1
    archived = await sqlite_history.get("in-1")
    assert archived is not None and archived.direction == "inbound"
    assert archived.record is not None and archived.record.outcome == "caller_hung_up"
    assert 0 < await store.ttl(CALL_KEY.format(call_id="in-1")) <= TTL_S
    assert await store.zcard(CALLS_TO_ARCHIVE) == 0
    assert await store.zscore(CALLS_BY_END, "in-1") is not None, "until the record expires"


async def test_the_index_of_records_is_trimmed_as_they_expire(
    store: Redis, archiver: Archiver
) -> None:
    long_ago = time.time() - TTL_S - 10
    await save_call_record(
        store, worker_record("in-old", started_at=long_ago - 5, ended_at=long_ago)
    )
    await save_call_record(store, worker_record("in-new"))
    await archiver.step()
    assert await store.zrange(CALLS_BY_END, 0, -1) == ["in-new"]


async def test_archiving_again_changes_nothing(
    store: Redis, archiver: Archiver, sqlite_history: HistoryStore
) -> None:
    await save_call_record(store, worker_record("in-2"))
    await archiver.step()
    first = await sqlite_history.get("in-2")
    await store.zadd(CALLS_TO_ARCHIVE, {"in-2": 1.0})  # as if killed before it let it go
    assert await archiver.step() == 1
    assert await sqlite_history.get("in-2") == first
    assert await archiver.step() == 0


async def test_a_canceled_call_no_worker_saw_is_archived_from_its_status(
    store: Redis, archiver: Archiver, sqlite_history: HistoryStore
) -> None:
    call_id = await place(store)
    webhook_state = WEBHOOK_STATE_KEY.format(call_id=call_id)
    await store.hset(webhook_state, mapping={"sent": 1, "tries": 0})  # its callback_url's progress
    await dial_queue.cancel(store, call_id)
    assert await archiver.step() == 1
    archived = await sqlite_history.get(call_id)
    assert archived is not None and archived.record is None
    assert (archived.outcome, archived.status) == ("canceled", CallStatus.CANCELED)
    assert archived.request is not None and archived.called_number == "+14155550199"
    assert [e.status for e in archived.history] == [CallStatus.QUEUED, CallStatus.CANCELED]
    assert 0 < await store.ttl(STATUS_KEY.format(call_id=call_id)) <= TTL_S
    assert 0 < await store.ttl(webhook_state) <= TTL_S
    assert await store.zscore(dial_queue.CALLS, call_id) is None
    assert await store.zcard(ENDED_KEY) == 0


async def test_an_answered_call_waits_for_its_final_status(
    store: Redis, archiver: Archiver, sqlite_history: HistoryStore
) -> None:
    call_id = await place(store)
    await walk(store, call_id, CallStatus.DIALING, CallStatus.ANSWERED, attempt=1)
    started = time.time()  # the worker's job starts once the call is dispatched
    record = worker_record(call_id, direction="outbound", started_at=started, ended_at=started + 9)
    await save_call_record(store, record)
    assert await archiver.step() == 0, "the worker has not reported the end yet"
    assert await store.ttl(CALL_KEY.format(call_id=call_id)) == -1
    await walk(store, call_id, CallStatus.COMPLETED, attempt=1)
    assert await archiver.step() == 1
    archived = await sqlite_history.get(call_id)
    assert archived is not None and archived.status == CallStatus.COMPLETED
    assert archived.outcome == "caller_hung_up" and archived.record is not None


async def test_a_busy_call_with_attempts_left_stays_live(
    store: Redis, archiver: Archiver, sqlite_history: HistoryStore
) -> None:
    call_id = await place(store, max_attempts=2)
    await walk(store, call_id, CallStatus.DIALING, CallStatus.BUSY, attempt=1, sip_code=486)
    assert await archiver.step() == 0
    request = await dial_queue.load_request(store, call_id)
    assert request is not None
    await dial_queue.schedule_retry(store, request, delay_s=60)
    assert await archiver.step() == 0
    assert await store.zcard(ENDED_KEY) == 0, "a scheduled retry leaves the ended index"
    assert await sqlite_history.get(call_id) is None
    await walk(store, call_id, CallStatus.DIALING, CallStatus.BUSY, attempt=2, sip_code=486)
    assert await archiver.step() == 1, "busy at its last attempt: over"
    archived = await sqlite_history.get(call_id)
    assert archived is not None and (archived.outcome, archived.attempts) == ("busy", 2)


async def test_a_record_of_an_earlier_attempt_is_not_the_outcome(
    store: Redis, archiver: Archiver, sqlite_history: HistoryStore
) -> None:
    call_id = await place(store, max_attempts=2)
    await walk(store, call_id, CallStatus.DIALING, attempt=1)
    now = time.time()  # attempt 1's own record: it began after attempt 1 was dispatched
    busy = worker_record(call_id, direction="outbound", outcome="busy", started_at=now)
    await save_call_record(store, busy)
    await walk(store, call_id, CallStatus.BUSY, attempt=1, sip_code=486)
    request = await dial_queue.load_request(store, call_id)
    assert request is not None
    await dial_queue.schedule_retry(store, request, delay_s=60)
    await dial_queue.cancel(store, call_id)  # canceled while its retry waited
    assert await archiver.step() == 1
    archived = await sqlite_history.get(call_id)
    assert archived is not None and (archived.outcome, archived.attempts) == ("canceled", 2)
    assert archived.record is None


async def test_a_call_older_than_the_retention_is_pruned(
    store: Redis, sqlite_history: HistoryStore
) -> None:
    now = time.time()
    moment = [now]
    old = worker_record("old", started_at=now - 91 * 86400, ended_at=now - 91 * 86400 + 5)
    await save_call_record(store, old)
    await save_call_record(store, worker_record("new"))
    archiver = Archiver(
        store, sqlite_history, record_ttl_s=TTL_S, retention_days=90, clock=lambda: moment[0]
    )
    await archiver.archive()
    assert await archiver.prune_if_due() == 1
    assert await sqlite_history.get("old") is None
    assert await sqlite_history.get("new") is not None
    new = await sqlite_history.get("new")
    assert new is not None
    await sqlite_history.record(new.model_copy(update={"ended_at": now - 91 * 86400}))
    moment[0] = now + 3600
    assert await archiver.prune_if_due() == 0, "once a day"
    moment[0] = now + 86400 + 1
    assert await archiver.prune_if_due() == 1


async def test_an_erased_call_leaves_no_key_in_redis(store: Redis) -> None:
    call_id = await place(store, max_attempts=2)
    await walk(store, call_id, CallStatus.DIALING, CallStatus.BUSY, attempt=1)
    await save_call_record(store, worker_record(call_id, direction="outbound"))
    await erase(store, call_id)
    assert [key async for key in store.scan_iter(match=f"*{call_id}*")] == []
    for index in (CALLS_BY_END, CALLS_TO_ARCHIVE, ENDED_KEY, dial_queue.CALLS):
        assert await store.zscore(index, call_id) is None


def start_dispatcher(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dispatcher"], cwd=ROOT, env=env, stdout=out, stderr=out
        )


async def test_the_dispatcher_process_archives_finished_calls(
    store: Redis, redis_url: str, tmp_path: Path
) -> None:
    """`python -m dispatcher` opens the history, migrates it and runs the archive loop."""
    database_url = sqlite_url(tmp_path)
    env = {
        **os.environ,
        "LIVEKIT_URL": "ws://127.0.0.1:9",  # not needed to archive; its loops retry quietly
        "LIVEKIT_API_KEY": DEV_API_KEY,
        "LIVEKIT_API_SECRET": DEV_API_SECRET,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "POLL_INTERVAL_S": "0.05",
    }
    later = datetime.now(UTC) + timedelta(days=1)
    call_id = await place(store, schedule_at=later.isoformat())
    await dial_queue.cancel(store, call_id)
    process = start_dispatcher(env, tmp_path / "dispatcher.log")
    try:

        async def let_go() -> bool:
            return await store.zscore(dial_queue.CALLS, call_id) is None

        await eventually(let_go)
    finally:
        process.terminate()
        process.wait(timeout=20)
    history = await open_history(database_url)
    try:
        archived = await history.get(call_id)
    finally:
        await history.close()
    assert archived is not None and archived.outcome == "canceled"
