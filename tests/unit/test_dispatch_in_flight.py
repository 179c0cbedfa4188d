"""The dispatcher dispatches several calls at once, up to DISPATCH_CONCURRENCY, and holds
each call's entry until its dispatch ends."""

from __future__ import annotations

import asyncio

import pytest

from dispatcher.in_flight import InFlight

pytestmark = pytest.mark.unit


async def _held(started: list[str], name: str, release: asyncio.Event) -> None:
    started.append(name)
    await release.wait()


async def test_a_dispatch_starts_while_earlier_ones_are_still_under_way() -> None:
    ids: set[str] = set()
    flight, release, started = InFlight(limit=3, ids=ids), asyncio.Event(), []
    for name in ("a", "b", "c"):
        await asyncio.wait_for(flight.run(name, _held(started, name, release)), 1)
    await asyncio.sleep(0)
    assert started == ["a", "b", "c"] and ids == {"a", "b", "c"}

    fourth = asyncio.create_task(flight.run("d", _held(started, "d", release)))
    await asyncio.sleep(0.05)
    assert not fourth.done(), "the limit holds the fourth back"
    release.set()
    await asyncio.wait_for(fourth, 1)
    await asyncio.wait_for(flight.drain(), 1)
    assert started == ["a", "b", "c", "d"] and ids == set() and not flight.busy


async def test_with_a_limit_of_one_each_dispatch_runs_in_the_loop_in_turn() -> None:
    ids: set[str] = set()
    flight, release, started = InFlight(limit=1, ids=ids), asyncio.Event(), []
    first = asyncio.create_task(flight.run("a", _held(started, "a", release)))
    await asyncio.sleep(0.05)
    assert not first.done() and not flight.busy  # awaited in place, not a task
    release.set()
    await asyncio.wait_for(first, 1)


async def test_a_dispatch_that_raises_frees_its_place_and_its_entry() -> None:
    ids: set[str] = set()
    flight = InFlight(limit=2, ids=ids)

    async def broken() -> None:
        raise RuntimeError("bug")

    await flight.run("a", broken())
    await asyncio.wait_for(flight.drain(), 1)
    assert ids == set()
    for name in ("b", "c"):  # both places are free again
        await asyncio.wait_for(flight.run(name, asyncio.sleep(0)), 1)
    await flight.drain()


async def test_stopping_cancels_the_dispatches_under_way_and_keeps_their_entries() -> None:
    ids: set[str] = set()
    flight, started = InFlight(limit=2, ids=ids), []
    await flight.run("a", _held(started, "a", asyncio.Event()))
    await asyncio.sleep(0)
    flight.cancel()
    await asyncio.wait_for(flight.drain(), 1)
    assert started == ["a"] and ids == set() and not flight.busy
