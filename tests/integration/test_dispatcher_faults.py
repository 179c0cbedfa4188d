"""Faults stay small, against a real Redis and a real livekit-server (no workers): a queue
entry that cannot be handled fails its call and leaves the queue, the next call goes on; a
loop whose step raises goes on, and the health file names it while it fails."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from redis.asyncio import Redis

from dialroom import dial_queue
from dialroom.call_status import CallStatus, current_status
from dialroom.campaigns import FEEDING
from dialroom.paths import ROOT
from dispatcher.entries import MAX_TRIES
from dispatcher.health import status_path
from dispatcher.service import Dispatcher
from dispatcher.stream import FAILURES
from tests.integration.test_campaign_dispatch import calls_of, start_campaign
from tests.support.dispatching import (
    dispatched,
    eventually,
    is_,
    place,
    poison_yaml,
    settings_for,
    status,
)
from tests.support.stack import RunningStack
from tests.support.statuses import begin, walk

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def agents_with_a_poison_persona(tmp_path: Path) -> Path:
    """The demo persona, and `legacy`, whose YAML nests deeper than the parser can recurse:
    reading it raises RecursionError, an exception nobody plans for."""
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "demo.yaml").write_text((ROOT / "agents" / "demo.yaml").read_text())
    (agents / "legacy.yaml").write_text(poison_yaml())
    return agents


async def test_a_poison_entry_fails_its_call_and_the_next_call_is_dispatched(
    stack: RunningStack, redis_url: str, store: Redis, tmp_path: Path
) -> None:
    agents = agents_with_a_poison_persona(tmp_path)
    poison = await place(store, persona="legacy")  # reading its rules raises RecursionError
    after = await place(store)
    settings = settings_for(stack, redis_url, agents_dir=agents)

    await Dispatcher(settings, redis=store).run(burst=True)  # returns: it did not die

    failed = await current_status(store, poison)
    assert failed is not None and failed.status == CallStatus.FAILED
    assert f"({MAX_TRIES} tries): RecursionError" in (failed.detail or "")
    assert await dispatched(stack, poison) == []
    assert await status(store, after) == CallStatus.DIALING
    assert len(await dispatched(stack, after)) == 1
    assert await store.xlen(dial_queue.QUEUE_STREAM) == 0, "the poison entry left the queue"
    assert await store.hlen(FAILURES) == 0


async def test_a_call_the_sweep_cannot_read_does_not_stop_the_others_retries(
    stack: RunningStack, redis_url: str, store: Redis
) -> None:
    unreadable = "unreadable-call"
    await store.set(dial_queue.REQUEST_KEY.format(call_id=unreadable), '{"not": "a request"}')
    await begin(store, unreadable, attempt=1)
    await walk(store, unreadable, CallStatus.DIALING, CallStatus.NO_ANSWER, attempt=1)
    await store.sadd(dial_queue.ACTIVE, unreadable)
    busy = await place(store, max_attempts=2)
    settings = settings_for(stack, redis_url)
    dispatcher = Dispatcher(settings, redis=store)
    task = asyncio.create_task(dispatcher.run())
    try:
        await eventually(is_(store, busy, CallStatus.DIALING))
        await walk(store, busy, CallStatus.BUSY, attempt=1, sip_code=486)

        async def retried() -> bool:
            now = await current_status(store, busy)
            return now is not None and (now.status, now.attempts) == (CallStatus.DIALING, 2)

        await eventually(retried)
    finally:
        dispatcher.stop()
        await asyncio.wait([task], timeout=10)
    assert task.done()


async def test_a_failing_loop_goes_on_and_the_health_report_names_it(
    stack: RunningStack, redis_url: str, store: Redis, tmp_path: Path
) -> None:
    health = tmp_path / "dispatcher.alive"
    report = status_path(health)
    await store.set(FEEDING, "not a set")  # every pass of the campaign feeder raises
    settings = settings_for(stack, redis_url, dispatcher_health_file=str(health))
    dispatcher = Dispatcher(settings, redis=store)
    dispatcher.loops.stuck_after_s = 3.0
    task = asyncio.create_task(dispatcher.run())

    async def reported(*stuck: str) -> bool:
        if not report.is_file():
            return False
        return bool(json.loads(report.read_text())["stuck"] == list(stuck))

    def written_at(path: Path) -> float:
        return float(json.loads(path.read_text())["at"])

    try:
        await eventually(lambda: reported("campaigns"), within_s=30)
        assert written_at(health) < written_at(report), "stuck: the plain file is left to age"
        single = await place(store)  # the dispatch loop goes on meanwhile
        await eventually(is_(store, single, CallStatus.DIALING))

        await store.delete(FEEDING)  # the fault passes: the same loop picks up again
        await eventually(reported, within_s=30)  # after its backoff, up to 10 s

        async def fresh_again() -> bool:
            return written_at(health) == written_at(report)

        await eventually(fresh_again)
        campaign_id = await start_campaign(store, concurrency=1, numbers=["+14155550101"])
        [released] = await calls_of(store, campaign_id)
        await eventually(is_(store, released, CallStatus.DIALING))
    finally:
        dispatcher.stop()
        await asyncio.wait([task], timeout=10)
    assert task.done()
    loops = json.loads(report.read_text())["loops"]
    assert set(loops) == {"dispatch", "campaigns", "sweep", "webhooks", "events", "redispatch"}
