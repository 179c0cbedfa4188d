"""One TLS context per trust configuration for the cloud providers' HTTP clients, built once.

Building an `ssl.SSLContext` parses a whole CA bundle (~16-25 ms of CPU, held under the GIL).
Left to themselves, the openai plugins build one per httpx client and livekit's shared aiohttp
session (the Azure TTS) one per process: three or four per call, since every call is a process
of its own, and the Azure one on the greeting's path (its first synthesis). A context is safe
to share across clients, threads and event loops, and survives a fork.

This module is a side-effect import: `worker.preload` lists it, so the worker's forkserver
builds both contexts once and every call process inherits them copy-on-write. Each keeps the
trust its client would have chosen: httpx's (`SSL_CERT_FILE` / `SSL_CERT_DIR`, else certifi)
for the openai clients, livekit's (the system store, certifi where there is none) for aiohttp.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl

import httpx
from livekit.agents.utils import http_context

logger = logging.getLogger("dialroom.worker")


def httpx_context() -> ssl.SSLContext:
    """What `httpx.AsyncClient()` would build for itself, made once per trust configuration."""
    return _httpx_context_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _httpx_context_for(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # reads the same two variables


def warm_aiohttp_context() -> ssl.SSLContext:
    """livekit's `http_session()` context: it caches one per trust configuration and process
    (`http_context._ssl_context_for`); built here, before the fork, every call shares it."""
    return http_context._create_ssl_context()


def warm() -> None:
    """Both contexts, built now. A trust setting that cannot be read (a missing
    `SSL_CERT_FILE`) is logged here and raised by each call's own client build, as before
    this module: an import error in the forkserver's preload would stop every call process."""
    try:
        httpx_context()
        warm_aiohttp_context()
    except OSError as err:  # ssl.SSLError is one
        logger.warning("TLS contexts not built ahead of the calls: %s", err)


warm()
