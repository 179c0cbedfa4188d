"""The openai SDK clients the OpenAI and Azure OpenAI plugins use, on the one shared TLS context.

The plugins build their own `httpx.AsyncClient` when given none, and each builds a fresh TLS
context from the CA bundle (`worker.providers.tls`); these are the same clients, with the
plugins' own timeouts and connection limits, made on the context the forkserver built. A
plugin given a client does not close it, so `owned` hands it back its ownership, as the
plugins' own `with_azure` does.
"""

from __future__ import annotations

from typing import TypeVar

import httpx
import openai

from worker.providers.tls import httpx_context

# the openai plugins' own client settings (livekit-plugins-openai 1.8.9: llm.py, stt.py, tts.py)
_TIMEOUT = httpx.Timeout(connect=15.0, read=5.0, write=5.0, pool=5.0)
_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=50, keepalive_expiry=120)

_Plugin = TypeVar("_Plugin")


def _http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=httpx_context(), timeout=_TIMEOUT, follow_redirects=True, limits=_LIMITS
    )


def openai_client(api_key: str | None = None, base_url: str | None = None) -> openai.AsyncClient:
    """`None` leaves the key and URL to the SDK (`OPENAI_API_KEY`, `OPENAI_BASE_URL`)."""
    return openai.AsyncClient(
        api_key=api_key, base_url=base_url, max_retries=0, http_client=_http_client()
    )


def azure_openai_client(
    *, endpoint: str | None, api_key: str | None, api_version: str | None
) -> openai.AsyncAzureOpenAI:
    """What `openai.LLM.with_azure` builds; `None` leaves a setting to the SDK's variables."""
    return openai.AsyncAzureOpenAI(
        max_retries=0,
        azure_endpoint=endpoint,
        api_key=api_key,
        api_version=api_version,
        timeout=_TIMEOUT,
        http_client=_http_client(),
    )


def owned(plugin: _Plugin) -> _Plugin:
    """The plugin closes the client it was given when it is closed (`LLM.aclose`, `TTS.aclose`)."""
    plugin._owns_client = True  # type: ignore[attr-defined]
    return plugin
