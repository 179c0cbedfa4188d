"""A call cut off by the media server's death gets its own outcome, `media_server_lost`.

Why: when livekit-server dies (a crash, an OOM kill), the agent's room loses its signalling
and the SDK reconnects (`reconnecting`, then `reconnected` or `disconnected`). What the session
then sees looks like an ordinary end: the caller's participant leaves the room that is gone
(close reason `participant_disconnected`, recorded `caller_hung_up`), or the job stops because
its room disconnected (`job_shutdown`, recorded `worker_stopped`). Neither is true, and
neither tells an operator to look at the media server.

So the worker watches its room (`watch`, one line in the entrypoint): a lost connection marks
the call (`CallState.media_lost`), a disconnect for a reason Dialroom did not cause keeps the
mark, and a reconnect that holds for `SETTLE_S` clears it, since the call went on.
`resolve_outcome` turns the mark into the outcome unless the call or the agent ended it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from livekit import rtc

from worker.call_state import CallState

logger = logging.getLogger("dialroom.worker")

SETTLE_S = 10.0  # a reconnect that holds this long was a blip: the call went on
# Disconnects Dialroom or the far end caused: the media server was there to say so.
ORDINARY = frozenset(
    {
        rtc.DisconnectReason.CLIENT_INITIATED,
        rtc.DisconnectReason.ROOM_DELETED,
        rtc.DisconnectReason.ROOM_CLOSED,
        rtc.DisconnectReason.PARTICIPANT_REMOVED,
        rtc.DisconnectReason.DUPLICATE_IDENTITY,
        rtc.DisconnectReason.USER_REJECTED,
        rtc.DisconnectReason.USER_UNAVAILABLE,
        rtc.DisconnectReason.SIP_TRUNK_FAILURE,
    }
)


class MediaWatch:
    """Marks `state` while its room's connection to the media server is lost; `end_call`
    is called when the room comes back for a call whose session closed meanwhile."""

    def __init__(
        self,
        state: CallState,
        *,
        settle_s: float = SETTLE_S,
        end_call: Callable[[], object] | None = None,
    ) -> None:
        self._state, self._settle_s, self._end_call = state, settle_s, end_call
        self._clear: asyncio.TimerHandle | None = None

    def reconnecting(self) -> None:
        self._cancel_clear()
        if not self._state.media_lost:
            logger.warning("call %s: lost the media server, reconnecting", self._state.call_id)
        self._state.media_lost = True

    def reconnected(self) -> None:
        self._cancel_clear()
        if self._state.close_reason is not None and self._end_call is not None:
            # The session closed while the server was away, so deleting the room failed and
            # the agent rejoined the re-created room alone: end it now, not at its timeout.
            logger.info("call %s: media server back after the call ended", self._state.call_id)
            self._end_call()
            return
        self._clear = asyncio.get_running_loop().call_later(self._settle_s, self._settled)

    def disconnected(self, reason: rtc.DisconnectReason.ValueType | None = None) -> None:
        if reason in ORDINARY:
            return
        self._cancel_clear()
        self._state.media_lost = True
        name = rtc.DisconnectReason.Name(reason or 0)
        logger.warning("call %s: media server gone (%s)", self._state.call_id, name)

    def _settled(self) -> None:
        self._clear = None
        self._state.media_lost = False
        logger.info("call %s: media server back, the call goes on", self._state.call_id)

    def _cancel_clear(self) -> None:
        if self._clear is not None:
            self._clear.cancel()
            self._clear = None


def watch(
    room: rtc.Room, state: CallState, *, end_call: Callable[[], object] | None = None
) -> MediaWatch:
    """Follow `room`'s connection for the rest of the call (`end_call`: see MediaWatch)."""
    media = MediaWatch(state, end_call=end_call)
    room.on("reconnecting", media.reconnecting)
    room.on("reconnected", media.reconnected)
    room.on("disconnected", media.disconnected)
    return media
