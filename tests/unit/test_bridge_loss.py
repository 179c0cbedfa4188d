"""A call whose SIP bridge (livekit-sip) died ends at once as `sip_bridge_lost`, not later as
`caller_silent` (`worker.bridge_loss`); the SIP leg leaving on purpose is still an ordinary end,
and livekit-server's own death keeps `media_server_lost`.

The watcher is driven through a real `rtc.Room`'s events, with participants built from the
protobufs livekit's SDK builds them from."""

from __future__ import annotations

import pytest
from livekit import rtc
from livekit.rtc._proto import participant_pb2 as proto

from worker.bridge_loss import DETAIL, SIP_BRIDGE_LOST, watch
from worker.call_state import MEDIA_SERVER_LOST, CallState, resolve_outcome
from worker.media_loss import MediaWatch

Reason = rtc.DisconnectReason
Quality = rtc.ConnectionQuality
SIP = proto.PARTICIPANT_KIND_SIP


def participant(
    identity: str = "sip_caller", kind: int = SIP, reason: int = Reason.UNKNOWN_REASON
) -> rtc.RemoteParticipant:
    info = proto.ParticipantInfo(identity=identity, kind=kind, disconnect_reason=reason)  # type: ignore[arg-type]
    return rtc.RemoteParticipant(proto.OwnedParticipant(info=info))


def watched(caller: rtc.RemoteParticipant | None = None) -> tuple[rtc.Room, CallState, list[str]]:
    room, ended = rtc.Room(), []
    state = CallState(call_id="c1", persona="demo", direction="outbound", room="r")
    watch(room, state, caller or participant(), end_call=lambda: ended.append("ended"))
    return room, state, ended


async def test_the_callers_leg_going_silent_at_the_transport_ends_the_call_at_once() -> None:
    room, state, ended = watched()
    room.emit("connection_quality_changed", participant(), Quality.QUALITY_POOR)
    assert ended == [] and state.outcome_override is None, "a poor line is still a call"
    room.emit("connection_quality_changed", participant(), Quality.QUALITY_LOST)
    assert ended == ["ended"]
    state.close_reason = "job_shutdown"  # how the session then closes
    assert resolve_outcome(state) == SIP_BRIDGE_LOST
    assert state.error is not None and state.error.startswith(DETAIL)


@pytest.mark.parametrize(
    "reason", [Reason.CONNECTION_TIMEOUT, Reason.SIGNAL_CLOSE, Reason.STATE_MISMATCH]
)
async def test_the_callers_leg_dropped_by_livekit_server_is_sip_bridge_lost(reason: int) -> None:
    room, state, ended = watched()
    room.emit("participant_disconnected", participant(reason=reason))
    assert ended == ["ended"] and resolve_outcome(state) == SIP_BRIDGE_LOST
    assert Reason.Name(reason) in (state.error or "")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "reason", [Reason.CLIENT_INITIATED, Reason.ROOM_DELETED, Reason.USER_UNAVAILABLE]
)
async def test_a_leg_that_hung_up_or_was_ended_is_an_ordinary_end(reason: int) -> None:
    room, state, ended = watched()
    room.emit("participant_disconnected", participant(reason=reason))
    assert ended == [] and state.outcome_override is None


async def test_a_leg_gone_with_our_own_connection_is_not_the_bridge() -> None:
    """A livekit-server node dying under the agent rebuilds its connection: the SDK drops every
    remote participant with no reason (None), and the caller is back once the room is."""
    room, state, ended = watched()
    info = proto.ParticipantInfo(identity="sip_caller", kind=SIP)  # no disconnect_reason
    gone = rtc.RemoteParticipant(proto.OwnedParticipant(info=info))
    assert gone.disconnect_reason is None
    room.emit("participant_disconnected", gone)
    room.emit("participant_disconnected", participant(reason=Reason.UNKNOWN_REASON))
    assert ended == [] and state.outcome_override is None


async def test_other_participants_and_web_callers_are_not_watched() -> None:
    room, state, ended = watched()
    room.emit("connection_quality_changed", participant("someone"), Quality.QUALITY_LOST)
    room.emit("participant_disconnected", participant("someone"))
    assert ended == []
    web = participant("browser", kind=proto.PARTICIPANT_KIND_STANDARD)
    assert watch(rtc.Room(), state, web, end_call=lambda: None) is None
    assert watch(rtc.Room(), state, None, end_call=lambda: None) is None


async def test_a_call_already_ended_or_limited_keeps_its_outcome() -> None:
    room, state, ended = watched()
    state.outcome_override = "caller_silent"  # the silence limit was hanging up already
    room.emit("connection_quality_changed", participant(), Quality.QUALITY_LOST)
    assert ended == [] and resolve_outcome(state) == "caller_silent"
    room, state, ended = watched()
    state.close_reason = "participant_disconnected"
    room.emit("participant_disconnected", participant(reason=Reason.CONNECTION_TIMEOUT))
    assert ended == [] and resolve_outcome(state) == "caller_hung_up"


async def test_livekit_servers_death_is_media_server_lost_not_the_bridge() -> None:
    room, state, ended = watched()
    MediaWatch(state).reconnecting()
    room.emit("participant_disconnected", participant(reason=Reason.CONNECTION_TIMEOUT))
    assert ended == [] and resolve_outcome(state) == MEDIA_SERVER_LOST
