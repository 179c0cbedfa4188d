"""A call process starts from the forkserver with what its first cloud request imports
already loaded: the openai client's lazily imported resources cost each call process ~0.05 s
of CPU alone, ~0.5 s on a loaded box, right before its first reply (`bench/README.md`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dialroom.paths import ROOT

pytestmark = pytest.mark.unit

# In a fresh interpreter: the preloaded modules, then a first chat (streamed) and transcription
# request to a closed loopback port; print what those requests imported.
_FIRST_REQUESTS = """
import asyncio, importlib, json, sys
from worker.preload import PRELOADED
for name in PRELOADED:
    importlib.import_module(name)
import openai
before = set(sys.modules)

async def first_requests():
    client = openai.AsyncOpenAI(api_key="x", base_url="http://127.0.0.1:9/v1", max_retries=0)
    try:
        await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    except openai.APIConnectionError:
        pass
    try:
        await client.audio.transcriptions.create(model="m", file=("a.wav", b"RIFF", "audio/wav"))
    except openai.APIConnectionError:
        pass

asyncio.run(first_requests())
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_a_first_openai_request_imports_nothing_the_forkserver_could_have() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_REQUESTS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    imported = json.loads(out.splitlines()[-1])
    heavy = [m for m in imported if m.split(".")[0] in {"openai", "anyio"}]
    assert heavy == []


def preloaded(before: str, after: str) -> list[str]:
    """In a fresh interpreter: run `before`, import every preloaded module, run `after`; what
    it printed, split into words."""
    script = "\n".join(
        [
            "import importlib",
            "from worker.preload import PRELOADED",
            before,
            "for name in PRELOADED:",
            "    importlib.import_module(name)",
            after,
        ]
    )
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()


def test_the_transcript_synchronizers_hyphenator_is_built_in_the_forkserver() -> None:
    """Built on first use otherwise, on a call's loop as its greeting starts (0.1-0.2 s loaded)."""
    before = (
        "from livekit.agents.tokenize import _basic_hyphenator as h\n"
        "assert h._get_hyphenator.cache_info().currsize == 0"
    )
    assert preloaded(before, "print(h._get_hyphenator.cache_info().currsize)") == ["1"]


def test_call_processes_are_forked_with_the_one_pass_speaking_rate() -> None:
    """Swapped (after its check) in the forkserver, so no call process runs the check."""
    before = (
        "from livekit.agents.voice.transcription._speaking_rate import SpeakingRateStream as S\n"
        "before = S._spectral_flux.__module__"
    )
    assert preloaded(before, "print(before, S._spectral_flux.__module__)") == [
        "livekit.agents.voice.transcription._speaking_rate",
        "worker.speaking_rate",
    ]
