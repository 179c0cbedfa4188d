"""Speech and language providers for a persona: cloud (Azure, OpenAI) or local (offline).

`missing_keys` is checked before a call starts so a persona without its credentials fails
with one line naming them, instead of a stack trace mid-call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from livekit.agents import llm, stt, tts
from livekit.agents.vad import VAD

from dialroom.persona import LLMConfig, Persona, SpeechConfig, STTConfig
from worker.settings import ProviderKeys

if TYPE_CHECKING:
    import openai as openai_sdk

_AZURE_SPEECH = ("AZURE_SPEECH_KEY", "AZURE_SPEECH_REGION")
_AZURE_OPENAI = ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION")


class ProviderConfigError(Exception):
    """A persona's providers cannot be built; the message names what to set."""


def missing_keys(persona: Persona, keys: ProviderKeys) -> list[str]:
    needed: list[str] = []
    for speech in (persona.stt, persona.tts):
        if speech.provider == "azure":
            # a full endpoint URL says where to go; the region is then not needed
            needed += _AZURE_SPEECH[:1] if speech.endpoint else _AZURE_SPEECH
        elif speech.provider == "openai" and not speech.endpoint:
            needed.append("OPENAI_API_KEY")
    if persona.llm.provider == "openai" and not persona.llm.base_url:
        needed.append("OPENAI_API_KEY")
    elif persona.llm.provider == "azure_openai":
        needed += _AZURE_OPENAI[::2] if persona.llm.base_url else _AZURE_OPENAI
    present = {name for name in needed if getattr(keys, name.lower())}
    return sorted(set(needed) - present)


def check_keys(persona: Persona, keys: ProviderKeys) -> None:
    if missing := missing_keys(persona, keys):
        raise ProviderConfigError(
            f"persona '{persona.name}' needs {', '.join(missing)}: set them in .env or the "
            "environment"
        )


def build_stt(
    config: STTConfig, keys: ProviderKeys | None = None, *, vad: VAD | None = None
) -> stt.STT:
    """`vad`: the call's VAD; local Whisper then transcribes at the caller's first pause
    (`whisper_stream`) instead of in livekit's `StreamAdapter` at the VAD's end of speech, and
    OpenAI's recogniser takes its utterances from the call's VAD stream (`shared_vad_stt`)."""
    keys = keys or ProviderKeys()
    if config.provider == "local":
        from worker.providers.local_stt import WhisperSTT

        whisper = WhisperSTT(language=config.language.split("-")[0])
        if vad is None or not config.transcribe_on_pause:
            return whisper
        from worker.providers.whisper_stream import SpeculativeWhisperSTT

        return SpeculativeWhisperSTT(whisper=whisper, voice_activity=vad)
    if config.provider == "azure":
        from livekit.plugins import azure

        from worker.providers.interim_commit import InterimCommitSTT

        azure_stt = azure.STT(
            language=config.language,
            segmentation_silence_timeout_ms=config.segmentation_silence_ms,
            **_azure_speech(keys, config.endpoint),
        )
        return InterimCommitSTT(azure_stt) if config.end_turn_on_interim else azure_stt
    from livekit.plugins import openai

    recogniser = openai.STT(
        language=config.language.split("-")[0],
        client=_openai_client(keys.openai_api_key, config.endpoint),
    )
    from worker.providers.speech_end import EndAtLastVoiceVAD

    if not isinstance(vad, EndAtLastVoiceVAD):
        return recogniser  # AgentSession cuts it with a VAD stream of its own (StreamAdapter)
    from worker.providers.shared_vad_stt import SharedVadSTT

    return SharedVadSTT(recogniser, voice_activity=vad)  # cut by the call's own VAD stream


def build_tts(config: SpeechConfig, keys: ProviderKeys | None = None) -> tts.TTS:
    keys = keys or ProviderKeys()
    if config.provider == "local":
        from worker.providers.local_tts import PiperTTS

        return PiperTTS()
    if config.provider == "azure":
        from livekit.plugins import azure

        return azure.TTS(
            voice=config.voice or "en-US-JennyNeural",
            language=config.language,
            **_azure_speech(keys, config.endpoint),
        )
    from livekit.plugins import openai

    from worker.providers.http_clients import owned

    return owned(
        openai.TTS(
            voice=config.voice or "ash",
            client=_openai_client(keys.openai_api_key, config.endpoint),
        )
    )


def build_llm(
    persona: Persona,
    keys: ProviderKeys | None = None,
    *,
    variables: Mapping[str, str] | None = None,
) -> llm.LLM:
    """The persona's model; a `flow` persona's says its steps with the call's `variables`."""
    keys = keys or ProviderKeys()
    config: LLMConfig = persona.llm
    if config.provider == "flow":
        from worker.providers.flow_llm import FlowLLM

        transfer = persona.tools.transfer
        unavailable = transfer.unavailable if transfer else ""
        return FlowLLM(steps=persona.flow, unavailable=unavailable, variables=variables)
    from livekit.plugins import openai

    from worker.providers.http_clients import azure_openai_client, owned

    options = {"temperature": config.temperature} if config.temperature is not None else {}
    if config.provider == "azure_openai":  # what `openai.LLM.with_azure` builds
        client: openai_sdk.AsyncClient = azure_openai_client(
            endpoint=config.base_url or keys.azure_openai_endpoint or None,
            api_key=keys.azure_openai_api_key or None,
            api_version=keys.openai_api_version or None,
        )
        model = config.model or "gpt-4.1-mini"
    else:
        client = _openai_client(keys.openai_api_key, config.base_url)
        model = config.model or ("default" if config.base_url else "gpt-4.1-mini")
    return owned(openai.LLM(model=model, client=client, **options))


def _openai_client(api_key: str, base_url: str | None) -> openai_sdk.AsyncClient:
    """The OpenAI plugins' client on the shared TLS context (`http_clients`); a self-hosted
    server may need no key, OpenAI's own reads `OPENAI_API_KEY` when none is set here."""
    from worker.providers.http_clients import openai_client

    if not base_url:
        return openai_client(api_key or None)
    return openai_client(api_key or "unused", base_url)


def _azure_speech(keys: ProviderKeys, endpoint: str | None) -> dict[str, str]:
    """Only the settings that are set: the Azure plugins treat a passed None as given."""
    options = {
        "speech_key": keys.azure_speech_key,
        "speech_endpoint": endpoint or "",
        # an endpoint already says where to go; Azure warns when both are given
        "speech_region": "" if endpoint else keys.azure_speech_region,
    }
    return {name: value for name, value in options.items() if value}
