"""A call's limits: re-prompt a silent caller, then hang up politely; end at `max_call_s`.

The framework marks a silent caller "away" once and stays there, so the re-prompts are
driven here from the session's state events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from livekit.agents import AgentSession, AgentStateChangedEvent, UserStateChangedEvent

from dialroom.persona import Limits
from worker.call_state import CallState

POLL_S = 0.25


class CallLimits:
    def __init__(self, session: AgentSession[CallState], limits: Limits) -> None:
        self._session = session
        self._limits = limits
        self._quiet_since: float | None = None  # both sides silent since (None: someone talks)
        self._reprompts = 0
        self._tasks: list[asyncio.Task[None]] = []
        session.on("agent_state_changed", self._on_agent_state)
        session.on("user_state_changed", self._on_user_state)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._watch_silence(), name="dialroom-silence"),
            asyncio.create_task(self._end_at_max_duration(), name="dialroom-max-duration"),
        ]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _on_agent_state(self, ev: AgentStateChangedEvent) -> None:
        self._quiet_since = time.monotonic() if ev.new_state == "listening" else None

    def _on_user_state(self, ev: UserStateChangedEvent) -> None:
        if ev.new_state == "speaking":
            self._quiet_since = None
            self._reprompts = 0

    async def _watch_silence(self) -> None:
        silence = self._limits.silence
        while True:
            await asyncio.sleep(POLL_S)
            quiet = self._quiet_since
            if quiet is None or time.monotonic() - quiet < silence.reprompt_after_s:
                continue
            try:
                if self._reprompts < silence.reprompts:
                    self._reprompts += 1
                    self._quiet_since = None
                    self._session.say(silence.message)
                else:
                    await self._hang_up(silence.goodbye, outcome="caller_silent")
                    return
            except RuntimeError:  # the session is closing: the call is already over
                return

    async def _end_at_max_duration(self) -> None:
        await asyncio.sleep(self._limits.max_call_s)
        with contextlib.suppress(RuntimeError):  # closing already: nothing left to end
            await self._hang_up(self._limits.closing, outcome="max_duration")

    async def _hang_up(self, line: str, *, outcome: str) -> None:
        self._session.userdata.outcome_override = outcome
        with contextlib.suppress(Exception):
            await self._session.interrupt(force=True)
        await self._session.say(line, allow_interruptions=False)
        self._session.shutdown()
