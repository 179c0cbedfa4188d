"""A call cut off by the SIP bridge's death ends promptly, with its own outcome `sip_bridge_lost`.

Why: when livekit-sip dies (a crash, an OOM kill, a SIGKILL), the caller's participant in the
room does not leave: livekit-sip never said goodbye, so livekit-server keeps it, waiting for a
reconnect, until ICE gives up (~10 s + 5 s) and a clean-up timer runs (5 s more); only then
does it leave, with `CONNECTION_TIMEOUT`. livekit-agents closes a session only for a caller
who left on purpose (`CLIENT_INITIATED`, `ROOM_DELETED`, `USER_REJECTED`), so the agent went on
talking to nobody until the silence limit ended the call as `caller_silent`.

The earlier sign is the caller's connection quality: livekit-server reports `LOST` when a
participant has sent neither media nor RTCP for a whole 5 s window, which a live SIP leg never
does: however silent the caller, livekit-sip's WebRTC side sends a sender report every second.
So the worker watches the caller (`watch`, one line in the entrypoint): quality `LOST`, or
the caller leaving for a reason nobody chose, ends the call as `sip_bridge_lost` unless the
call already ended or livekit-server itself is what died (`worker.media_loss`: `media_server_lost`).
Measured (`tests/e2e/test_sip_bridge_loss.py`): the call is recorded ~15 s after the SIGKILL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from livekit import rtc

from worker.call_state import CallState
from worker.media_loss import ORDINARY

logger = logging.getLogger("dialroom.worker")

SIP_BRIDGE_LOST = "sip_bridge_lost"
DETAIL = "sip_bridge_lost: livekit-sip dropped the call"


class BridgeWatch:
    """Ends the call of `state` (through `end_call`) once its caller `identity` is cut off."""

    def __init__(self, state: CallState, identity: str, end_call: Callable[[], object]) -> None:
        self._state, self._identity, self._end_call = state, identity, end_call

    def quality_changed(self, participant: rtc.Participant, quality: rtc.ConnectionQuality) -> None:
        if participant.identity == self._identity and quality == rtc.ConnectionQuality.QUALITY_LOST:
            self._lost("no media and no RTCP from the caller's leg")

    def participant_left(self, participant: rtc.RemoteParticipant) -> None:
        reason = participant.disconnect_reason
        if participant.identity != self._identity or reason in ORDINARY:
            return
        if not reason:  # None or UNKNOWN_REASON: our own connection is being rebuilt (a
            return  # media server node died), and the caller may be there when it is back
        self._lost(f"the caller's leg left the room ({rtc.DisconnectReason.Name(reason)})")

    def _lost(self, why: str) -> None:
        state = self._state
        if state.media_lost or state.close_reason is not None or state.outcome_override:
            return  # livekit-server died (its own outcome), or the call had already ended
        state.outcome_override, state.error = SIP_BRIDGE_LOST, f"{DETAIL} ({why})"
        logger.warning("call %s: SIP bridge lost: %s; ending the call", state.call_id, why)
        self._end_call()


def watch(
    room: rtc.Room,
    state: CallState,
    caller: rtc.RemoteParticipant | None,
    *,
    end_call: Callable[[], object],
) -> BridgeWatch | None:
    """Follow `caller` in `room` for the rest of the call, if it is a SIP leg (a web page's
    caller has no bridge: None)."""
    if caller is None or caller.kind != rtc.ParticipantKind.PARTICIPANT_KIND_SIP:
        return None
    bridge = BridgeWatch(state, caller.identity, end_call)
    room.on("connection_quality_changed", bridge.quality_changed)
    room.on("participant_disconnected", bridge.participant_left)
    return bridge
