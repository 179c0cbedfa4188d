"""An outbound call's start: dial as soon as the persona is known good, and join the room and
build the agent while the phone rings.

The INVITE is what the callee waits for; joining the room (WebRTC set-up in livekit-rtc) and
building the agent and session (the caller's memory read from the history database, up to
2 s) take from milliseconds to seconds on a busy box, and ringing takes seconds anyway. So
only what can fail a call because of its persona comes before the dial (`prepare.load`: the
persona, its last good version, its provider keys: milliseconds); the rest runs beside it.

One exception: a persona that screens for answering machines (`voicemail:`) joins the room
before it dials, because the machine check judges the callee's first words from their start
("Hello?" then silence is a person), and a callee who answers at once would speak before the
agent is in the room. Any other persona does not listen to those words anyway (its greeting
is the answer to "Hello?", `PersonaAgent.on_user_turn_completed`).

The call states stay as they were: `answered` only when the callee picks up
(`outbound.dial`), and a call whose agent cannot be built after all fails, its dial
cancelled and its room deleted (which hangs up a phone still ringing); and a dial that ends
unanswered (busy, refused, no answer) stops the room join and the agent build still under
way: a call that never connects costs no WebRTC set-up and no session (in a burst answered
486, that was 1.5-2 s of each job on a loaded box).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dialroom.last_good import CallPersona
from worker.outbound import Dialed
from worker.prepare import Prepared

logger = logging.getLogger("dialroom.worker.dial_out")
CANCEL_AGAIN_S = 0.1


@dataclass(frozen=True)
class Steps:
    """An outbound call's steps; each deals with its own failure (writes the status, ends
    the job) and returns None when the call ends there."""

    load: Callable[[], Awaitable[CallPersona | None]]
    dial: Callable[[str], Awaitable[Dialed | None]]  # given the trunk; waits for the answer
    connect: Callable[[], Awaitable[None]]  # the job joins its room
    build: Callable[[CallPersona], Awaitable[Prepared | None]]


async def start(steps: Steps, *, call_id: str, default_trunk: str) -> tuple[Prepared, str] | None:
    """The built call and the callee's identity once answered; None when the call ends here."""
    began = time.monotonic()
    loaded = await steps.load()
    if loaded is None:
        return None
    trunk = loaded.persona.outbound.trunk or default_trunk
    screening = loaded.persona.voicemail is not None
    if screening:  # the answering machine check hears the callee from their first word
        await steps.connect()
    dialing = asyncio.create_task(steps.dial(trunk), name=f"dialroom.dial.{call_id}")
    loaded_at = time.monotonic()
    times: list[float] = []
    setup = asyncio.create_task(
        _set_up(steps, loaded, join=not screening, times=times), name=f"dialroom.setup.{call_id}"
    )
    try:
        await asyncio.wait({dialing, setup}, return_when=asyncio.FIRST_COMPLETED)
        if not setup.done() and _ended_unanswered(dialing):
            await _cancel(setup)  # busy, refused, no answer: no room, agent or session for it
            logger.info(
                "call %s: dial ended %.2f s after the job began; room join and agent build stopped",
                call_id,
                time.monotonic() - began,
            )
            dialing.result()  # a dial that raised raises here
            return None
        call = await setup
    except BaseException:
        await _cancel(dialing)
        await _cancel(setup)
        raise
    if call is None:
        await _cancel(dialing)
        return None
    logger.info(
        "call %s: dialing %.2f s, room joined %.2f s, agent built %.2f s after the job began",
        call_id,
        loaded_at - began,
        (times[0] if times else loaded_at) - began,
        time.monotonic() - began,
    )
    dialed = await dialing
    return None if dialed is None else (call, dialed.identity)


async def _set_up(
    steps: Steps, loaded: CallPersona, *, join: bool, times: list[float]
) -> Prepared | None:
    """The room joined (unless already) and the agent built, beside the dial."""
    if join:
        await steps.connect()
    times.append(time.monotonic())
    return await steps.build(loaded)


def _ended_unanswered(dialing: asyncio.Task[Dialed | None]) -> bool:
    """The dial is over without a callee to talk to (it wrote the call's status itself)."""
    return dialing.done() and (dialing.exception() is not None or dialing.result() is None)


async def _cancel(dialing: asyncio.Task[Any]) -> None:
    """Stop a dial (or a set-up) the call no longer wants (its room is being deleted too).
    redis-py (8.1)
    sometimes swallows a cancellation that lands in one of its commands (the dial claims its
    attempt and writes `dialing` first; 15-30 % of cancellations in a test loop), and the
    dial would go on to ring the phone: so it is cancelled again until it has stopped."""
    while not dialing.done():
        dialing.cancel()
        await asyncio.wait({dialing}, timeout=CANCEL_AGAIN_S)
