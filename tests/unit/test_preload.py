"""A call process starts from the forkserver with what it imports already loaded: the worker's
main module, which multiprocessing runs again in every forked process (~0.7 s of CPU each, as
the pool refilled during a burst), and what its first cloud request imports (the openai
client's lazily imported resources, ~0.05 s alone, ~0.5 s on a loaded box, right before its
first reply). Numbers in `bench/README.md`."""

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


# In a fresh interpreter: the preloaded modules, then what a forked call process runs before
# its job (`multiprocessing.spawn.prepare` with the worker's main module, run as
# `__mp_main__`); print what that imported.
_FORKED_START = """
import importlib, json, sys
from multiprocessing import spawn
from worker.preload import PRELOADED
for name in PRELOADED:
    importlib.import_module(name)
before = set(sys.modules)
spawn.prepare({"init_main_from_name": "worker.main"})
assert sys.modules["__mp_main__"].__file__.endswith("main.py")
print(json.dumps(sorted(set(sys.modules) - before - {"__mp_main__"})))
"""


def test_a_forked_call_process_imports_nothing_running_the_main_module_again() -> None:
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", _FORKED_START],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(run.stdout.splitlines()[-1]) == []


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
