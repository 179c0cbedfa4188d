"""Caller lines for speech tests, rendered once by piper and kept as small 8 kHz WAV fixtures.

To regenerate, from the repository root (piper with zero noise is deterministic on one CPU,
but other CPUs render slightly different bytes: tests check what the audio says, not its bytes):

    .venv/bin/python -c "from tests.support.fixtures import render_all; render_all()"
"""

from __future__ import annotations

from pathlib import Path

from worker.providers.local_tts import synthesize_wav

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"
PHONE_SAMPLE_RATE = 8000

# file name -> what the caller says
CALLER_LINES: dict[str, str] = {
    "caller_tuesday.wav": "I would like to come in on Tuesday, please.",
    "caller_friday.wav": "Friday would be great.",
    # who picks up an outbound call: a person, then their answer; a voicemail box
    "callee_hello.wav": "Hello?",
    "callee_yes.wav": "Yes I will be there.",  # no comma: a pause there can split the turn
    "callee_voicemail.wav": (
        "You have reached the voicemail of Sam Taylor, "
        "please leave a message after the tone and I will get back to you"
    ),
}


def render_fixture(text: str, path: Path) -> None:
    """Speak `text` with piper and write it as phone audio: 8 kHz mono 16-bit WAV."""
    synthesize_wav(text, path, sample_rate=PHONE_SAMPLE_RATE)


def render_all() -> None:
    """Rewrite every fixture in `CALLER_LINES`."""
    for name, text in CALLER_LINES.items():
        render_fixture(text, FIXTURES_DIR / name)
