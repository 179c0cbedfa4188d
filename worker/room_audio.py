"""The room options a call's session starts with: how the caller's audio reaches the agent.

The phone leg is G.711 at 8 kHz; livekit-sip sends it on as Opus, and livekit-agents' room
input decodes it at 24 kHz by default. Every consumer of that audio wants 16 kHz (the VAD,
Whisper, the cloud recognisers), so at 24 kHz each 10 ms frame is resampled once more in
Python, in every call process (`bench/README.md`, "Measured (2026-12-05)": ~1-1.7 % of a
core per call). Decoding straight to 16 kHz keeps all the phone carried (8 kHz holds nothing
above 4 kHz) and drops that resampler. 8 kHz would be resampled back up for the VAD.

Every session a call starts in its room passes `session_host=False`. livekit-agents otherwise
hosts a `RemoteSession` there: each state change, transcript and usage update of the session
sent to the room as a byte stream (`lk.agent.session`), for a LiveKit client that would drive
or watch the agent. A phone call's room holds the caller's SIP participant alone: the bytes
went through livekit-server to livekit-sip, which drops them. Dialroom's console reads the
call record, not the room.
"""

from __future__ import annotations

from livekit.agents import room_io


def room_options(*, identity: str, input_rate: int) -> room_io.RoomOptions:
    """The caller `identity`'s audio, decoded at `input_rate` (AUDIO_INPUT_SAMPLE_RATE)."""
    return room_io.RoomOptions(
        participant_identity=identity,
        audio_input=room_io.AudioInputOptions(sample_rate=input_rate),
    )
