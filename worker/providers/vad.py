"""The call's voice activity detector, built from the persona's turn settings.

livekit-agents builds a silero VAD itself when none is given, ending speech after 0.25 s of
silence. With a streaming STT that silence costs nothing: it is counted inside the endpointing
delay (the turn's wait is back-dated to the last voiced sample), and Azure's interim text needs
about that long to catch up with the last word (`interim_commit`). A non-streaming STT (local
Whisper) would start transcribing only when the VAD ends speech, so there the silence is on the
reply's path; `whisper_stream` starts it at the caller's first pause instead, and the silence
overlaps Whisper's time. Shorter is not safe as a default: on the offline
demo 0.15 s took ~0.1 s off the worker's end of turn, but split 1 caller line in 16 at its
comma into two turns (0.10 s: 2 in 6); bench/README.md, "audio path". So the default stays
livekit-agents' 0.25 s and a persona may set its own (`turn.vad_min_silence_s`).
"""

from __future__ import annotations

from livekit.agents import inference

from dialroom.persona import Persona


def vad_silence_s(persona: Persona) -> float:
    """Seconds of silence before the persona's VAD ends speech (`turn.vad_min_silence_s`)."""
    return persona.turn.vad_min_silence_s


def build_vad(persona: Persona) -> inference.VAD:
    """Silero (built into livekit-agents) with the persona's silence; the rest as default."""
    return inference.VAD(model="silero", min_silence_duration=vad_silence_s(persona))
