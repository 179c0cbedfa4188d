"""A persona on the real cloud plugins (OpenAI STT and LLM, Azure TTS) pointed at a local
`FakeCloud`: what a production box runs, with the providers off the box."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cloud_fakes import FakeCloud

CLOUD_PERSONA = "cloudbench"
CLOUD_GREETING = "Hello, which day would you like to come in?"


def cloud_persona(folder: Path, fake: FakeCloud) -> dict[str, str]:
    """A persona on the real cloud plugins, pointed at the fakes; returns the stack's env."""
    agents, prompts = folder / "agents", folder / "prompts"
    agents.mkdir(parents=True, exist_ok=True)
    prompts.mkdir(parents=True, exist_ok=True)
    (prompts / "bench.md").write_text("You book appointments. Ask which day suits the caller.\n")
    persona = {
        "name": CLOUD_PERSONA,
        "language": "en-US",
        "stt": {"provider": "openai", "endpoint": fake.openai_base_url},
        "llm": {"provider": "openai", "model": "gpt-4.1-mini", "base_url": fake.openai_base_url},
        "tts": {"provider": "azure", "voice": "en-US-JennyNeural",
                "endpoint": fake.azure_tts_endpoint},
        "prompt": "bench.md",
        "greeting": {"inbound": CLOUD_GREETING},
        "turn": {"min_endpointing_s": 0.4, "max_endpointing_s": 3.0, "detection": "vad"},
    }  # fmt: skip
    (agents / f"{CLOUD_PERSONA}.yaml").write_text(json.dumps(persona, indent=2))
    return {
        "AGENTS_DIR": str(agents),
        "PROMPTS_DIR": str(prompts),
        "OPENAI_API_KEY": fake.openai_key,
        "AZURE_SPEECH_KEY": fake.azure_speech_key,
    }
