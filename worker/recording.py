"""Recording a call, with livekit-agents' own session recorder.

`AgentSession.start(record={"audio": True, ...})` wraps the session's audio input and output
in its `RecorderIO`: the caller's audio on the left channel where it arrived, the agent's on
the right where it played, one timeline, encoded as stereo Ogg/Opus into the job's session
folder (`audio.ogg`). The session closes it before the job's shutdown callbacks run, so
`finish.finish_call` hands the finished file to the store (`dialroom.recordings`) and names
it in the call record; the job's folder is deleted after.

Traces, logs and transcript stay off: with a self-hosted LiveKit nothing is uploaded
anywhere (livekit-agents uploads a session only to LiveKit Cloud or LIVEKIT_OBSERVABILITY_URL).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
from livekit.agents import JobContext
from livekit.agents.voice.agent_session import RecordingOptions

from dialroom.persona_schema import Persona
from dialroom.recordings import RecordingRef, RecordingStore, key_for, open_recordings
from dialroom.templates import fill
from worker.call_state import CallState
from worker.prepare import Prepared
from worker.settings import WorkerSettings

logger = logging.getLogger("dialroom.worker")

# the name livekit-agents' session recorder gives its file in the job's session folder
SESSION_AUDIO = "audio.ogg"
AUDIO_ONLY: RecordingOptions = {
    "audio": True,
    "traces": False,
    "logs": False,
    "transcript": False,
}


@dataclass(frozen=True)
class RecordingPlan:
    enabled: bool
    consent: str | None = None  # said before the greeting


def plan_for(persona: Persona, settings: WorkerSettings) -> RecordingPlan:
    """The persona's `recording:`, else the global RECORDING_ENABLED default."""
    if persona.recording is not None:
        chosen = persona.recording
        return RecordingPlan(chosen.enabled, chosen.consent_message if chosen.enabled else None)
    consent = settings.recording_consent_message or None
    return RecordingPlan(
        settings.recording_enabled, consent if settings.recording_enabled else None
    )


def record_options(plan: RecordingPlan) -> RecordingOptions | bool:
    """What `AgentSession.start(record=...)` gets: audio only, or nothing at all."""
    return AUDIO_ONLY if plan.enabled else False


def attach(
    ctx: JobContext, state: CallState, call: Prepared, settings: WorkerSettings
) -> RecordingOptions | bool:
    """Before the session starts: arrange the call's recording and its consent notice, and
    say what `AgentSession.start(record=...)` gets."""
    plan = plan_for(call.persona, settings)
    if plan.enabled:
        state.recorder = Recorder(
            call_id=state.call_id,
            session_dir=ctx.session_directory,
            store=lambda: open_recordings(settings),  # at the end: boto3 stays off the greeting
        )
        call.agent.consent = fill(plan.consent, call.variables) if plan.consent else None
    return record_options(plan)


class Recorder:
    """One call's recording: where the session writes it, and where it is kept."""

    def __init__(
        self, *, call_id: str, session_dir: Path, store: Callable[[], RecordingStore]
    ) -> None:
        self.call_id = call_id
        self.source = session_dir / SESSION_AUDIO
        self.open_store = store
        self.kept: RecordingRef | None = None

    async def keep(self) -> RecordingRef | None:
        """Store the finished file; None when the call ended before any audio was recorded.
        A store that fails leaves the call without a recording, never without its record."""
        if not self.source.is_file() or self.source.stat().st_size == 0:
            logger.info("call %s: nothing was recorded", self.call_id)
            return None
        key = key_for(self.call_id)
        try:
            duration = ogg_duration(self.source)
            await self.open_store().put(key, self.source)
        except Exception:
            logger.exception("call %s: the recording could not be stored", self.call_id)
            return None
        size = self.source.stat().st_size
        self.kept = RecordingRef(key=key, duration_s=round(duration, 2), size_bytes=size)
        logger.info(
            "call %s: recording kept as %s (%.1f s)",
            self.call_id,
            key,
            duration,
            extra={"call_id": self.call_id},
        )
        return self.kept


def ogg_duration(path: Path) -> float:
    """The length of an Ogg/Opus file, from its last packet's timestamp."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        end = 0.0
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base is not None:
                end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        return end
