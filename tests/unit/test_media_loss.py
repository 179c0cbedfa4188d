"""A call cut off by livekit-server's death is recorded `media_server_lost`, not as the caller
hanging up or the worker stopping (`worker.media_loss`, `worker.call_state.resolve_outcome`).

The watcher is driven with the events and reasons livekit's `rtc.Room` emits."""

from __future__ import annotations

import asyncio

import pytest
from livekit import rtc

from worker.call_state import MEDIA_SERVER_LOST, CallState, resolve_outcome
from worker.media_loss import MediaWatch, watch

Reason = rtc.DisconnectReason


def call() -> CallState:
    return CallState(call_id="c1", persona="demo", direction="inbound", room="r")


def ended(state: CallState, close_reason: str | None) -> str:
    state.close_reason = close_reason
    return resolve_outcome(state)


@pytest.mark.parametrize("close_reason", ["participant_disconnected", "job_shutdown", None])
async def test_a_call_the_media_server_dropped_is_media_server_lost(
    close_reason: str | None,
) -> None:
    state = call()
    MediaWatch(state).reconnecting()
    assert ended(state, close_reason) == MEDIA_SERVER_LOST


@pytest.mark.parametrize(
    "reason", [Reason.SIGNAL_CLOSE, Reason.CONNECTION_TIMEOUT, Reason.UNKNOWN_REASON]
)
async def test_a_room_disconnected_by_a_dead_server_is_media_server_lost(
    reason: rtc.DisconnectReason.ValueType,
) -> None:
    state = call()
    MediaWatch(state).disconnected(reason)
    assert ended(state, "job_shutdown") == MEDIA_SERVER_LOST


@pytest.mark.parametrize("reason", [Reason.CLIENT_INITIATED, Reason.ROOM_DELETED])
async def test_an_ordinary_disconnect_keeps_the_ordinary_outcome(
    reason: rtc.DisconnectReason.ValueType,
) -> None:
    state = call()
    MediaWatch(state).disconnected(reason)
    assert ended(state, "participant_disconnected") == "caller_hung_up"


async def test_a_reconnect_that_holds_clears_the_mark() -> None:
    state = call()
    media = MediaWatch(state, settle_s=0.05)
    media.reconnecting()
    media.reconnected()
    assert ended(state, "participant_disconnected") == MEDIA_SERVER_LOST, "not settled yet"
    await asyncio.sleep(0.1)
    assert ended(state, "participant_disconnected") == "caller_hung_up"


async def test_losing_the_server_again_before_it_settles_keeps_the_mark() -> None:
    state = call()
    media = MediaWatch(state, settle_s=0.05)
    media.reconnecting()
    media.reconnected()
    media.reconnecting()
    await asyncio.sleep(0.1)
    assert state.media_lost


async def test_what_the_call_or_agent_decided_wins() -> None:
    state = call()
    MediaWatch(state).reconnecting()
    assert ended(state, "user_initiated") == "agent_hung_up"
    state.outcome_override = "max_duration"
    assert ended(state, "participant_disconnected") == "max_duration"


async def test_watch_follows_the_rooms_own_events() -> None:
    room = rtc.Room()
    state = call()
    watch(room, state)
    room.emit("reconnecting")
    assert state.media_lost


async def test_a_call_that_ended_while_the_server_was_away_is_ended_when_it_is_back() -> None:
    state = call()
    ended_calls: list[str] = []
    media = MediaWatch(state, end_call=lambda: ended_calls.append(state.room))
    media.reconnecting()
    state.close_reason = "participant_disconnected"  # the room could not be deleted then
    media.reconnected()
    assert ended_calls == ["r"], "the rejoined agent must not wait for the room's timeout"


async def test_a_call_still_in_conversation_is_not_ended_when_the_server_is_back() -> None:
    ended_calls: list[str] = []
    media = MediaWatch(call(), end_call=lambda: ended_calls.append("r"))
    media.reconnecting()
    media.reconnected()
    assert ended_calls == []
