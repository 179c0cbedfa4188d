"""Answering machine detection for outbound calls whose persona has `voicemail:`.

Right after the callee picks up, livekit-agents' AMD listens before the agent says anything.
A short "Hello?" followed by half a second of silence is a human, judged from timing alone,
so a person hears the greeting about as soon as they stop speaking. A longer greeting is
classified by an LLM (the persona's own, or `MachineWords` for a `flow` persona), and AMD
waits for a machine's greeting to finish, so a message starts after the beep.

- human, or no verdict (silence, a greeting nobody could classify): the agent greets.
- a voicemail box with `action: leave_message`: the message is said, then the call ends.
- anything else a machine (`hang_up`, a full mailbox, an IVR menu): the call ends unsaid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from livekit.agents import AMD, AgentSession, AMDCategory
from livekit.agents.voice.amd import AMDPredictionEvent

from dialroom.calls import VoicemailCheck
from dialroom.persona import Persona, Voicemail
from worker.call_state import CallState
from worker.providers.machine_words import MachineWords
from worker.providers.whisper_stream import SpeculativeWhisperSTT

logger = logging.getLogger("dialroom.worker.voicemail")


async def who_answered(
    session: AgentSession[CallState], persona: Persona, identity: str
) -> AMDPredictionEvent:
    """Listen to the callee's first words and decide: human or machine."""
    model = MachineWords() if persona.llm.provider == "flow" else None  # None: the session's
    with transcripts_after_speech(session):
        return await _listen(session, model, identity)


@contextmanager
def transcripts_after_speech(session: AgentSession[CallState]) -> Iterator[None]:
    """No early Whisper transcript while AMD listens: AMD calls a short greeting human from
    its timing only when no transcript came before the VAD's end of speech."""
    stt = session.stt
    if not isinstance(stt, SpeculativeWhisperSTT):
        yield
        return
    stt.speculating = False
    try:
        yield
    finally:
        stt.speculating = True


async def _listen(
    session: AgentSession[CallState], model: MachineWords | None, identity: str
) -> AMDPredictionEvent:
    async with AMD(
        session,
        llm=model,
        stt=None,  # the session's own transcripts
        participant_identity=identity,
        ivr_detection=False,  # an IVR menu is not who the call is for: hang up
        suppress_compatibility_warning=model is not None,
    ) as amd:
        return await amd.execute()


async def act_on(
    session: AgentSession[CallState],
    voicemail: Voicemail,
    verdict: AMDPredictionEvent,
    *,
    message: str,
    answered_at: float,
) -> VoicemailCheck:
    """Leave the message or hang up for a machine; for a human, nothing (the agent greets)."""
    action: Literal["greeted", "left_message", "hung_up"] = "greeted"
    if verdict.is_machine:
        leave = voicemail.action == "leave_message" and verdict.category == AMDCategory.MACHINE_VM
        if leave:
            await session.say(message, allow_interruptions=False)
        action = "left_message" if leave else "hung_up"
    check = VoicemailCheck(
        answered_by=verdict.category.value,
        reason=verdict.reason,
        action=action,
        decided_after_s=round(time.time() - answered_at, 3),
    )
    logger.info(
        "answered by %s (%s) after %.1fs: %s",
        check.answered_by,
        check.reason,
        check.decided_after_s,
        check.action,
    )
    return check
