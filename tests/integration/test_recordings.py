"""Call recordings kept, served, erased and pruned: in a folder and in S3 (a real S3 HTTP API
on loopback), through the real API with a real Redis and a real SQLite history."""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from api.main import create_app
from api.settings import ApiSettings
from dialroom.calls import CallRecord, save_call_record
from dialroom.history import open_history
from dialroom.recordings import (
    LocalRecordings,
    RecordingRef,
    S3Recordings,
    key_for,
    open_recordings,
)
from dialroom.settings import CommonSettings
from dispatcher.archive import DAY_S, Archiver
from tests.support.history import sqlite_url
from tests.support.ogg import write_stereo_ogg
from tests.support.s3_server import ACCESS_KEY, BUCKET, SECRET_KEY, s3_server
from worker.recording import SESSION_AUDIO, Recorder

pytestmark = pytest.mark.integration

KEY = "recordings-test-key-0123456789abcdefgh"
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["folder", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    """Where recordings go, as settings: RECORDINGS_DIR, or RECORDINGS_URL on the S3 server."""
    if request.param == "folder":
        return {"recordings_dir": tmp_path / "recordings"}
    endpoint: str = request.getfixturevalue("s3_endpoint")
    return {
        "recordings_url": f"s3://{BUCKET}/{tmp_path.name}",  # a prefix of its own per test
        "s3_endpoint_url": endpoint,
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SECRET_KEY,
    }


@pytest.fixture
def recordings(storage: dict[str, object]) -> LocalRecordings | S3Recordings:
    return open_recordings(CommonSettings.model_validate(storage))


@pytest.fixture
def ogg(tmp_path: Path) -> Path:
    return write_stereo_ogg(tmp_path / "call.ogg", seconds=3.0)


@pytest.fixture
def data(ogg: Path) -> bytes:
    return ogg.read_bytes()


async def read_all(store: LocalRecordings | S3Recordings, key: str, start: int, end: int) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, start, end)])


async def test_a_recording_is_kept_read_by_range_and_deleted(
    recordings: LocalRecordings | S3Recordings, ogg: Path, data: bytes
) -> None:
    key = key_for("call-abc123")
    assert await recordings.size(key) is None
    await recordings.put(key, ogg)
    assert await recordings.size(key) == len(data)
    assert await read_all(recordings, key, 0, len(data) - 1) == data
    assert await read_all(recordings, key, 100, 1099) == data[100:1100]
    assert await recordings.delete(key) is True
    assert await recordings.size(key) is None
    assert await recordings.delete(key) is False


async def test_prune_removes_recordings_older_than_the_limit_only(
    recordings: LocalRecordings | S3Recordings, ogg: Path
) -> None:
    await recordings.put(key_for("old-call"), ogg)
    await recordings.put(key_for("new-call"), ogg)
    if isinstance(recordings, LocalRecordings):  # a file's age is its mtime
        past = time.time() - 100 * DAY_S
        os.utime(recordings.path(key_for("old-call")), (past, past))
        cutoff = time.time() - 90 * DAY_S
    else:  # an object's age is its LastModified, set by the server, in whole seconds
        assert await recordings.prune(older_than=time.time() - 3600) == 0
        cutoff = math.floor(time.time()) + 1
        await asyncio.sleep(cutoff + 0.05 - time.time())
        await recordings.put(key_for("new-call"), ogg)  # written again after the cutoff
    assert await recordings.prune(older_than=cutoff) == 1
    assert await recordings.size(key_for("old-call")) is None
    assert await recordings.size(key_for("new-call")) is not None


async def test_the_worker_keeps_the_session_recording_in_the_store(
    recordings: LocalRecordings | S3Recordings, tmp_path: Path, data: bytes
) -> None:
    session_dir = tmp_path / "job"
    session_dir.mkdir()
    (session_dir / SESSION_AUDIO).write_bytes(data)  # as livekit-agents' recorder leaves it
    ref = await Recorder(
        call_id="worker-call", session_dir=session_dir, store=lambda: recordings
    ).keep()
    assert ref is not None and ref.key == "worker-call.ogg" and 2.9 < ref.duration_s < 3.1
    assert await read_all(recordings, ref.key, 0, len(data) - 1) == data


def test_a_key_is_a_call_id_and_never_a_path() -> None:
    for bad in ("../etc/passwd", "a/b", "", "x" * 65):
        with pytest.raises(ValueError):
            key_for(bad)


# --- through the API ---------------------------------------------------------------------


def record(call_id: str, *, ago_s: float = 60.0, recording: RecordingRef | None) -> CallRecord:
    started = time.time() - ago_s
    return CallRecord(
        call_id=call_id,
        persona="demo",
        direction="inbound",
        room=f"call-{call_id}",
        caller_number="+14155550123",
        started_at=started,
        ended_at=started + 30,
        outcome="caller_hung_up",
        recording=recording,
    )


@pytest.fixture
async def recorded_call(
    redis_url: str,
    tmp_path: Path,
    recordings: LocalRecordings | S3Recordings,
    ogg: Path,
    data: bytes,
) -> AsyncIterator[str]:
    """Two archived calls: `rec-call-1` with its recording stored, `plain-call-1` without."""
    key = key_for("rec-call-1")
    await recordings.put(key, ogg)
    ref = RecordingRef(key=key, duration_s=3.0, size_bytes=len(data))
    redis = Redis.from_url(redis_url, decode_responses=True)
    history = await open_history(sqlite_url(tmp_path))
    try:
        await save_call_record(redis, record("rec-call-1", recording=ref))
        await save_call_record(redis, record("plain-call-1", ago_s=120, recording=None))
        await Archiver(redis, history, record_ttl_s=60, retention_days=90).archive()
    finally:
        await history.close()
        await redis.aclose()
    yield "rec-call-1"


@pytest.fixture
def client(redis_url: str, tmp_path: Path, storage: dict[str, object]) -> Iterator[TestClient]:
    settings = ApiSettings.model_validate(
        {
            "redis_url": redis_url,
            "database_url": sqlite_url(tmp_path),
            "api_keys": KEY,
            "dialroom_dev": False,
            **storage,
        }
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_the_recording_streams_whole_and_by_byte_range(
    client: TestClient, recorded_call: str, data: bytes
) -> None:
    whole = client.get(f"/api/calls/{recorded_call}/recording", headers=AUTH)
    assert whole.status_code == 200, whole.text
    assert whole.headers["content-type"] == "audio/ogg"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.content == data

    part = client.get(
        f"/api/calls/{recorded_call}/recording", headers={**AUTH, "Range": "bytes=100-1099"}
    )
    assert part.status_code == 206, part.text
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    assert part.content == data[100:1100]

    tail = client.get(
        f"/api/calls/{recorded_call}/recording", headers={**AUTH, "Range": "bytes=-500"}
    )
    assert tail.status_code == 206 and tail.content == data[-500:]

    beyond = client.get(
        f"/api/calls/{recorded_call}/recording",
        headers={**AUTH, "Range": f"bytes={len(data) + 10}-"},
    )
    assert beyond.status_code == 416


def test_a_call_without_a_recording_answers_404(client: TestClient, recorded_call: str) -> None:
    assert client.get("/api/calls/plain-call-1/recording", headers=AUTH).status_code == 404
    assert client.get("/api/calls/no-such-call/recording", headers=AUTH).status_code == 404
    assert client.get(f"/api/calls/{recorded_call}/recording").status_code == 401


def test_calls_are_filtered_by_having_a_recording(client: TestClient, recorded_call: str) -> None:
    def listed(value: str) -> list[str]:
        page = client.get("/api/calls", params={"has_recording": value}, headers=AUTH)
        assert page.status_code == 200, page.text
        return [c["call_id"] for c in page.json()["calls"]]

    assert listed("true") == [recorded_call]
    assert listed("false") == ["plain-call-1"]
    detail = client.get(f"/api/calls/{recorded_call}", headers=AUTH).json()
    assert detail["record"]["recording"]["key"] == f"{recorded_call}.ogg"
    assert detail["record"]["recording"]["format"] == "ogg/opus"


async def test_deleting_a_call_erases_its_recording(
    client: TestClient, recorded_call: str, recordings: LocalRecordings | S3Recordings
) -> None:
    assert await recordings.size(key_for(recorded_call)) is not None
    assert client.delete(f"/api/calls/{recorded_call}", headers=AUTH).status_code == 204
    assert await recordings.size(key_for(recorded_call)) is None
    assert client.get(f"/api/calls/{recorded_call}", headers=AUTH).status_code == 404
    assert client.get(f"/api/calls/{recorded_call}/recording", headers=AUTH).status_code == 404


async def test_retention_prunes_an_old_call_and_its_recording(
    redis_url: str, tmp_path: Path, recordings: LocalRecordings | S3Recordings, ogg: Path
) -> None:
    await recordings.put(key_for("kept-call"), ogg)
    await recordings.put(key_for("old-call"), ogg)
    if isinstance(recordings, LocalRecordings):
        past = time.time() - 91 * DAY_S
        os.utime(recordings.path(key_for("old-call")), (past, past))
        clock = time.time
    else:  # the server dates objects now: prune as if 91 days had gone by for both
        clock = lambda: time.time() + 91 * DAY_S  # noqa: E731
    redis = Redis.from_url(redis_url, decode_responses=True)
    history = await open_history(sqlite_url(tmp_path))
    try:
        ref = RecordingRef(key=key_for("old-call"), duration_s=3.0, size_bytes=1)
        await save_call_record(redis, record("old-call", ago_s=91 * DAY_S, recording=ref))
        archiver = Archiver(
            redis, history, record_ttl_s=60, retention_days=90, clock=clock, recordings=recordings
        )
        await archiver.archive()
        assert await history.get("old-call") is not None
        assert await archiver.prune_if_due() == 1
        assert await history.get("old-call") is None
        assert await recordings.size(key_for("old-call")) is None
        if isinstance(recordings, LocalRecordings):
            assert await recordings.size(key_for("kept-call")) is not None
    finally:
        await history.close()
        await redis.aclose()
