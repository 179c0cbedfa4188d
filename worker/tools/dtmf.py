"""The phone keypad, both ways, for personas with `tools.dtmf: true`.

Keys the caller presses (RFC 2833, relayed by the SIP bridge as `sip_dtmf_received`) become
one caller turn, `Keypad: 12`, so a flow's `choices` and an LLM's reasoning treat a key press
like a spoken answer. The agent presses keys with the `send_dtmf` tool (a flow step's
`send_dtmf: "123#"` calls it too), e.g. to get through a remote phone menu. It is
livekit-agents' `send_dtmf_events` plus one thing: it waits until the words said with it have
been heard, so "here is your code" comes before the code, not over it.
"""

from __future__ import annotations

import asyncio
import contextlib

from livekit import rtc
from livekit.agents import AgentSession, RunContext, ToolError, function_tool, llm
from livekit.agents.beta.workflows.utils import DtmfEvent, dtmf_event_to_code
from livekit.agents.utils.aio.debounce import Debounced

from worker.call_state import CallState

KEYPAD_PREFIX = "Keypad: "
KEY_PAUSE_S = 2.0  # keys pressed closer together than this are one answer
END_KEY = "#"  # ends an answer at once (and is not part of it)
KEY_GAP_S = 0.3  # between keys the agent presses (livekit-agents' own default)


@function_tool
async def send_dtmf(ctx: RunContext[CallState], keys: str) -> str:
    """Press keys on the phone keypad, e.g. to choose an option in an automated phone menu.

    Args:
        keys: the keys in order, each one of 0-9, *, #, A-D; for example "123#"
    """
    try:
        events = [DtmfEvent(key) for key in keys]
    except ValueError as err:
        raise ToolError(f"{keys!r} has a key that is not on a phone keypad") from err
    await ctx.wait_for_playout()
    participant = ctx.session.room_io.room.local_participant
    for event in events:
        await participant.publish_dtmf(code=dtmf_event_to_code(event), digit=event.value)
        await asyncio.sleep(KEY_GAP_S)
    return f"pressed {keys}"


def keypad_tools() -> list[llm.Tool]:
    """The tools that press keys for the agent."""
    return [send_dtmf]


def keypad_turn(keys: str) -> str:
    """The caller turn that stands for `keys` pressed on the keypad."""
    return f"{KEYPAD_PREFIX}{keys}"


class Keypad:
    """Collects the caller's key presses and answers them as one caller turn."""

    def __init__(
        self, session: AgentSession[CallState], room: rtc.Room, *, pause_s: float = KEY_PAUSE_S
    ) -> None:
        self._session = session
        self._room = room
        self._keys: list[str] = []
        self._answer = Debounced(self._reply_to_keys, pause_s)
        room.on("sip_dtmf_received", self._on_key)

    def _on_key(self, ev: rtc.SipDTMF) -> None:
        caller = self._session.room_io.linked_participant
        if caller is None or ev.participant is None or ev.participant.identity != caller.identity:
            return  # only the caller this session talks to
        if ev.digit == END_KEY:
            self._answer.run()
            return
        self._keys.append(ev.digit)
        self._answer.schedule()

    async def _reply_to_keys(self) -> None:
        keys, self._keys = "".join(self._keys), []
        if not keys:
            return
        with contextlib.suppress(RuntimeError):  # a line that may not be cut keeps playing
            self._session.interrupt()
        self._session.generate_reply(user_input=keypad_turn(keys))

    async def aclose(self) -> None:
        self._room.off("sip_dtmf_received", self._on_key)
        self._answer.cancel()
