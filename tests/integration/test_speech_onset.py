"""The persona's agent on a real AgentSession speaks from its voice's first sound: a TTS whose
every utterance starts with 60 ms of silence (as Piper's and Azure's do) is heard with 10 ms of
it, in the greeting, played early or said live, and in a reply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import AgentSession

from dialroom.persona import Persona
from tests.support.captured_audio import CapturedAudio
from tests.support.recording_tts import RecordingTTS
from worker.call_state import CallState
from worker.persona_agent import PersonaAgent
from worker.providers.rule_llm import Reply, RuleLLM

pytestmark = pytest.mark.integration

GREETING = "Hello, this is the front desk."
LEAD_S = 0.06  # the voice's own silence before each utterance
TONE_S = 0.1  # RecordingTTS's audio per text


class OneLineLLM(RuleLLM):
    model_name = "one-line"

    def respond(self, reply: Reply) -> None:
        reply.say("Tuesday works.")


def persona() -> Persona:
    return Persona.model_validate(
        {
            "name": "desk",
            "stt": {"provider": "local"},
            "llm": {"provider": "openai"},
            "tts": {"provider": "local"},
            "prompt": "unused.md",
            "greeting": {"inbound": GREETING},
        }
    )


class Utterances(CapturedAudio):
    """The frames heard, cut where each utterance's playout ended."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[int] = []

    def flush(self) -> None:
        if self.frames and (not self.ends or self.ends[-1] < len(self.frames)):
            self.ends.append(len(self.frames))
        super().flush()

    def utterances(self) -> list[list[rtc.AudioFrame]]:
        starts = [0, *self.ends[:-1]]
        return [self.frames[a:b] for a, b in zip(starts, self.ends, strict=True)]


def sound_s(frames: list[rtc.AudioFrame]) -> tuple[float, float]:
    """When the first sample that is not silence plays, and how long until the last one."""
    samples = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    sound = np.flatnonzero(samples) / frames[0].sample_rate
    return float(sound[0]), float(sound[-1] - sound[0])


async def call(*, prefetch: Path | None) -> tuple[Utterances, RecordingTTS]:
    """Greet, then one caller turn; the audio heard and the TTS."""
    state = CallState(call_id="onset-call", persona="desk", direction="inbound", room="r")
    voice = RecordingTTS(lead_s=LEAD_S)
    audio = Utterances()
    session = AgentSession[CallState](llm=OneLineLLM(), tts=voice, userdata=state)
    session.output.audio = audio
    async with session:
        agent = PersonaAgent(
            persona(), state, instructions="Front desk.", greeting=GREETING, greeting_cacheable=True
        )
        if prefetch is not None:
            agent.prefetch_greeting(session, persona=persona(), cache_root=prefetch)
        await session.start(agent)
        await session.run(user_input="Can I come in on Tuesday?")
    return audio, voice


@pytest.mark.parametrize("early", [False, True], ids=["said live", "played early"])
async def test_each_utterance_starts_10_ms_before_its_first_sound(
    early: bool, tmp_path: Path
) -> None:
    audio, voice = await call(prefetch=tmp_path if early else None)

    assert sorted(voice.texts) == sorted([GREETING, "Tuesday works."])
    heard_twice = audio.utterances()
    assert len(heard_twice) == 2, "the greeting, then the reply"
    for heard in heard_twice:
        starts, lasts = sound_s(heard)
        assert starts == pytest.approx(0.01, abs=0.001), "10 ms of the 60 ms lead-in"
        assert lasts == pytest.approx(TONE_S, abs=0.001), "and the voice itself whole"
