"""Providers: a persona without its cloud keys fails with one line naming them; with keys the
real Azure and OpenAI plugins are built (never called here: no network in tests)."""

from __future__ import annotations

import pytest
from livekit.plugins import azure, openai

from dialroom.persona import load_persona
from worker.providers import ProviderConfigError, build_llm, build_stt, build_tts, check_keys
from worker.providers.flow_llm import FlowLLM
from worker.providers.interim_commit import InterimCommitSTT
from worker.providers.local_stt import WhisperSTT
from worker.providers.local_tts import PiperTTS
from worker.settings import ProviderKeys

NO_KEYS = {
    "azure_speech_key": "",
    "azure_speech_region": "",
    "openai_api_key": "",
}


def test_production_persona_names_every_missing_key() -> None:
    with pytest.raises(ProviderConfigError) as caught:
        check_keys(load_persona("receptionist"), ProviderKeys(**NO_KEYS))
    assert str(caught.value) == (
        "persona 'receptionist' needs AZURE_SPEECH_KEY, AZURE_SPEECH_REGION, OPENAI_API_KEY: "
        "set them in .env or the environment"
    )


def test_demo_persona_needs_no_key() -> None:
    check_keys(load_persona("demo"), ProviderKeys(**NO_KEYS))


def test_keys_present_build_the_cloud_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_SPEECH_KEY", "k")
    monkeypatch.setenv("AZURE_SPEECH_REGION", "westeurope")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    persona = load_persona("receptionist")
    check_keys(persona, ProviderKeys())
    stt = build_stt(persona.stt)  # its turn ends on the VAD, with Azure's interim text
    assert isinstance(stt, InterimCommitSTT) and isinstance(stt.inner, azure.STT)
    assert stt.capabilities.manual_flush
    assert isinstance(build_tts(persona.tts), azure.TTS)
    model = build_llm(persona)
    assert isinstance(model, openai.LLM) and model.model == "gpt-4.1-mini"


def test_demo_persona_builds_the_offline_providers() -> None:
    persona = load_persona("demo")
    assert isinstance(build_stt(persona.stt), WhisperSTT)
    assert isinstance(build_tts(persona.tts), PiperTTS)
    assert isinstance(build_llm(persona), FlowLLM)
