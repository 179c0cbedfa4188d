"""A call builds no TLS context: the cloud providers' clients use the ones the forkserver built.

Each `ssl.SSLContext` parses a CA bundle (~20 ms of CPU); built per client, a call paid three
or four of them, the Azure TTS's on the greeting's path (`worker.providers.tls`).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from livekit.agents.utils import http_context
from livekit.plugins import azure, openai

import worker.providers.tls as tls  # what the forkserver imports (`worker.preload`)
from dialroom.persona import load_persona
from worker.preload import PRELOADED
from worker.providers import build_llm, build_stt, build_tts
from worker.settings import ProviderKeys

pytestmark = pytest.mark.unit

KEYS = ProviderKeys(
    azure_speech_key="k",
    azure_speech_region="westeurope",
    openai_api_key="sk-test",
    azure_openai_api_key="az",
    azure_openai_endpoint="https://example.openai.azure.com",
    openai_api_version="2024-10-21",
)


@pytest.fixture
def contexts_built(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every TLS context made and every CA bundle loaded from here on."""
    built: list[str] = []
    new, load = ssl.SSLContext.__new__, ssl.SSLContext.load_verify_locations

    def counting_new(cls: type, *args: Any, **kwargs: Any) -> ssl.SSLContext:
        built.append("SSLContext()")
        return new(cls, *args, **kwargs)

    def counting_load(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        built.append("load_verify_locations")
        load(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "__new__", staticmethod(counting_new))
    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting_load)
    yield built


def _cloud_personas() -> list[Any]:
    """OpenAI STT and TTS with OpenAI's LLM; then a self-hosted LLM; then Azure everything."""
    azure_voice = load_persona("receptionist")

    def changed(config: Any, **update: Any) -> Any:
        return config.model_copy(update=update)

    openai_voice = azure_voice.model_copy(
        update={
            "stt": changed(azure_voice.stt, provider="openai"),
            "tts": changed(azure_voice.tts, provider="openai"),
        }
    )
    self_hosted = openai_voice.model_copy(
        update={"llm": changed(openai_voice.llm, base_url="http://127.0.0.1:9/v1")}
    )
    on_azure = azure_voice.model_copy(
        update={"llm": changed(azure_voice.llm, provider="azure_openai")}
    )
    return [openai_voice, self_hosted, on_azure]


async def test_building_a_calls_cloud_providers_makes_no_tls_context(
    contexts_built: list[str],
) -> None:
    async with http_context.open():  # a call's aiohttp session, as in a job process
        for _call in range(2):
            for persona in _cloud_personas():
                voice = build_tts(persona.tts, KEYS)
                if isinstance(voice, azure.TTS):
                    voice._ensure_session()  # what its first synthesis (the greeting) does
                build_stt(persona.stt, KEYS)
                build_llm(persona, KEYS)
    assert contexts_built == []


async def test_the_shared_contexts_still_verify_and_a_closed_llm_closes_its_client() -> None:
    assert "worker.providers.tls" in PRELOADED
    for context in (tls.httpx_context(), tls.warm_aiohttp_context()):
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.cert_store_stats()["x509_ca"] or context.get_ca_certs() is not None
    model = build_llm(_cloud_personas()[0], KEYS)
    assert isinstance(model, openai.LLM)
    await model.aclose()
    assert model._client.is_closed()


def test_an_unreadable_trust_file_is_logged_not_raised_ahead_of_the_calls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # the forkserver imports this module: raising there would stop every call process
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    tls.warm()
    assert "TLS contexts not built ahead" in caplog.text
    with pytest.raises(OSError):
        tls.httpx_context()  # a call's own client build still says what is wrong
