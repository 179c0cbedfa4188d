"""Speech and language providers for a persona: cloud (Azure, OpenAI) or local (offline).

`missing_keys` is checked before a call starts so a persona without its credentials fails
with one line naming them, instead of a stack trace mid-call.
"""

from __future__ import annotations

from livekit.agents import llm, stt, tts

from dialroom.persona import LLMConfig, Persona, SpeechConfig
from worker.settings import ProviderKeys

_AZURE_SPEECH = ("AZURE_SPEECH_KEY", "AZURE_SPEECH_REGION")
_AZURE_OPENAI = ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION")


class ProviderConfigError(Exception):
    """A persona's providers cannot be built; the message names what to set."""


def missing_keys(persona: Persona, keys: ProviderKeys) -> list[str]:
    needed: list[str] = []
    for speech in (persona.stt, persona.tts):
        if speech.provider == "azure":
            needed += _AZURE_SPEECH
        elif speech.provider == "openai":
            needed.append("OPENAI_API_KEY")
    if persona.llm.provider == "openai" and not persona.llm.base_url:
        needed.append("OPENAI_API_KEY")
    elif persona.llm.provider == "azure_openai":
        needed += _AZURE_OPENAI
    present = {name for name in needed if getattr(keys, name.lower())}
    return sorted(set(needed) - present)


def check_keys(persona: Persona, keys: ProviderKeys) -> None:
    if missing := missing_keys(persona, keys):
        raise ProviderConfigError(
            f"persona '{persona.name}' needs {', '.join(missing)}: set them in .env or the "
            "environment"
        )


def build_stt(config: SpeechConfig) -> stt.STT:
    if config.provider == "local":
        from worker.providers.local_stt import WhisperSTT

        return WhisperSTT(language=config.language.split("-")[0])
    if config.provider == "azure":
        from livekit.plugins import azure

        return azure.STT(language=config.language)
    from livekit.plugins import openai

    return openai.STT(language=config.language.split("-")[0])


def build_tts(config: SpeechConfig) -> tts.TTS:
    if config.provider == "local":
        from worker.providers.local_tts import PiperTTS

        return PiperTTS()
    if config.provider == "azure":
        from livekit.plugins import azure

        return azure.TTS(voice=config.voice or "en-US-JennyNeural")
    from livekit.plugins import openai

    return openai.TTS(voice=config.voice or "ash")


def build_llm(persona: Persona) -> llm.LLM:
    config: LLMConfig = persona.llm
    if config.provider == "flow":
        from worker.providers.flow_llm import FlowLLM

        return FlowLLM(steps=persona.flow)
    from livekit.plugins import openai

    options = {"temperature": config.temperature} if config.temperature is not None else {}
    if config.provider == "azure_openai":
        return openai.LLM.with_azure(model=config.model or "gpt-4.1-mini", **options)
    if config.base_url:
        return openai.LLM(
            model=config.model or "default", base_url=config.base_url, api_key="unused", **options
        )
    return openai.LLM(model=config.model or "gpt-4.1-mini", **options)
