"""Returning callers against real databases (SQLite and PostgreSQL): the archiver keeps a
note of a call whose persona remembers, the next call from that number reads it, and it is
erased with its call, per number, and when its `keep_days` run out; the API erases it too."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from api.main import create_app
from api.settings import ApiSettings
from dialroom.calls import CallRecord, save_call_record
from dialroom.history import HistoryStore, open_history
from dialroom.history.live import from_record
from dialroom.history.memory import DAY_S, forget_expired, forget_number, recall, remember
from dialroom.persona import Persona
from dispatcher.archive import Archiver
from tests.support.history import sqlite_url
from worker.call_state import CallState
from worker.memory import caller_memory

pytestmark = pytest.mark.integration

NUMBER = "+14155550123"
KEY = "memory-test-key-0123456789abcdefghijkl"
AUTH = {"X-API-Key": KEY}


def record(
    call_id: str, *, ended: float, keep_days: float | None = 30, **more: object
) -> CallRecord:
    fields: dict[str, object] = {
        "call_id": call_id,
        "persona": "booking",
        "direction": "inbound",
        "room": f"call-{call_id}",
        "caller_number": NUMBER,
        "started_at": ended - 60,
        "ended_at": ended,
        "outcome": "agent_hung_up",
        "summary": f"The caller booked a visit ({call_id}).",
        "extracted": {"day": "tuesday", "name": None},
        "memory_keep_days": keep_days,
    }
    return CallRecord.model_validate({**fields, **more})


async def keep(history: HistoryStore, *records: CallRecord) -> None:
    """As the archiver does: the call into the history, then its note."""
    for one in records:
        call = from_record(one)
        await history.record(call)
        await remember(history.engine, call)


async def test_the_latest_unexpired_notes_of_a_number_are_recalled_newest_first(
    history: HistoryStore,
) -> None:
    now = time.time()
    await keep(
        history,
        record("m-old", ended=now - 3600),
        record("m-new", ended=now - 60),
        record("m-gone", ended=now - 40 * DAY_S),  # kept 30 days: expired
        record("m-other", ended=now, caller_number="+14155550999"),
        record("m-forgetful", ended=now, keep_days=None),  # its persona keeps no memory
    )
    notes = await recall(history.engine, NUMBER)
    assert [n.call_id for n in notes] == ["m-new", "m-old"]
    assert notes[0].note == "The caller booked a visit (m-new). Fields: day=tuesday."
    assert await forget_expired(history.engine, now=now) == 1
    assert await forget_number(history.engine, NUMBER) == 2
    assert await recall(history.engine, NUMBER) == []
    assert [n.call_id for n in await recall(history.engine, "+14155550999")] == ["m-other"]


async def test_a_note_goes_with_its_call_erased_or_pruned(history: HistoryStore) -> None:
    now = time.time()
    await keep(history, record("m-erase", ended=now - 10), record("m-prune", ended=now - 5 * DAY_S))
    assert await history.delete("m-erase")
    assert [n.call_id for n in await recall(history.engine, NUMBER)] == ["m-prune"]
    assert await history.prune(older_than=now - 2 * DAY_S) == 1  # RETENTION_DAYS
    assert await recall(history.engine, NUMBER) == []


async def test_archiving_a_call_again_keeps_one_note(history: HistoryStore) -> None:
    now = time.time()
    await keep(history, record("m-twice", ended=now), record("m-twice", ended=now, summary="B."))
    notes = await recall(history.engine, NUMBER)
    assert [(n.call_id, n.note) for n in notes] == [("m-twice", "B. Fields: day=tuesday.")]


async def test_the_worker_reads_the_memory_of_a_returning_caller(
    history: HistoryStore, history_url: str
) -> None:
    await keep(history, record("m-first", ended=time.time() - 120))
    persona = Persona.model_validate(
        {
            "name": "booking",
            "stt": {"provider": "local"},
            "llm": {"provider": "flow"},
            "tts": {"provider": "local"},
            "greeting": {"inbound": "Hello"},
            "flow": [{"collect": "day", "choices": ["tuesday"]}],
            "memory": {"enabled": True, "keep_days": 30},
        }
    )
    state = CallState(call_id="m-second", persona="booking", direction="inbound", room="r")
    state.caller_number = NUMBER
    memory = await caller_memory(persona, state, history_url)
    assert memory is not None and "(booking): The caller booked a visit (m-first)." in memory
    state.caller_number = "+14155550000"  # a first-time caller
    assert await caller_memory(persona, state, history_url) is None
    state.caller_number = NUMBER
    forgetful = persona.model_copy(update={"memory": None})  # its persona keeps none
    assert await caller_memory(forgetful, state, history_url) is None


async def test_an_unreachable_history_leaves_the_call_without_memory(tmp_path: Path) -> None:
    persona_fields = {
        "name": "booking",
        "stt": {"provider": "local"},
        "llm": {"provider": "flow"},
        "tts": {"provider": "local"},
        "greeting": {"inbound": "Hello"},
        "flow": [{"collect": "day", "choices": ["tuesday"]}],
        "memory": {"enabled": True},
    }
    state = CallState(call_id="m-x", persona="booking", direction="inbound", room="r")
    state.caller_number = NUMBER
    never_migrated = sqlite_url(tmp_path)  # no caller_notes table: read fails, call goes on
    assert (
        await caller_memory(Persona.model_validate(persona_fields), state, never_migrated) is None
    )


@pytest.fixture
def sqlite_file(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


async def test_the_archiver_keeps_the_note_the_worker_asked_for(
    store: Redis, sqlite_file: str
) -> None:
    history = await open_history(sqlite_file)
    try:
        now = time.time()
        await save_call_record(store, record("a-kept", ended=now))
        await save_call_record(store, record("a-not", ended=now, keep_days=None))
        assert await Archiver(store, history, record_ttl_s=60, retention_days=90).archive() == 2
        assert [n.call_id for n in await recall(history.engine, NUMBER)] == ["a-kept"]
    finally:
        await history.close()


@pytest.fixture
def client(redis_url: str, sqlite_file: str) -> Iterator[TestClient]:
    settings = ApiSettings(
        redis_url=redis_url, database_url=sqlite_file, api_keys=KEY, dialroom_dev=False
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_the_api_erases_a_callers_memory_per_call_and_per_number(
    client: TestClient, sqlite_file: str
) -> None:
    async def archive() -> None:
        history = await open_history(sqlite_file)
        try:
            now = time.time()
            await keep(
                history, record("api-one", ended=now - 90), record("api-two", ended=now - 30)
            )
        finally:
            await history.close()

    asyncio.run(archive())
    url = f"/api/callers/{NUMBER}/memory"
    assert [n["call_id"] for n in client.get(url, headers=AUTH).json()["notes"]] == [
        "api-two",
        "api-one",
    ]
    assert client.delete("/api/calls/api-two", headers=AUTH).status_code == 204
    assert [n["call_id"] for n in client.get(url, headers=AUTH).json()["notes"]] == ["api-one"]
    assert client.delete(url, headers=AUTH).status_code == 204
    assert client.get(url, headers=AUTH).json()["notes"] == []
    assert client.delete(url, headers=AUTH).status_code == 404
    assert client.delete(url).status_code == 401
