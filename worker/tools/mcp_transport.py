"""The outbound address policy (`dialroom.outbound_http`) for MCP servers' connections.

A persona's MCP URL is written by someone who does not run the machine, like an HTTP tool's
URL, so it is held to the same rule: no loopback, private or metadata address unless named in
OUTBOUND_ALLOWED_HOSTS (or development mode). livekit's MCP client speaks through httpx2, whose
connection pool takes a network backend: this one resolves the host itself, checks every
address, then connects to a checked one (so a name that re-resolves elsewhere is still caught).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2

from dialroom.outbound_http import BlockedAddress, OutboundPolicy, addresses_to_connect


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """httpcore2's twin of `dialroom.outbound_http.GuardedBackend` (same checks, httpcore2's
    types: the two packages share no classes)."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self.inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            addresses = await addresses_to_connect(self.policy, host, port)
        except BlockedAddress as err:
            raise httpcore2.ConnectError(str(err)) from err
        except OSError as err:  # the name does not resolve
            raise httpcore2.ConnectError(f"{host}: {err}") from err
        failure: Exception = httpcore2.ConnectError(f"{host}: no address")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore2.ConnectError as err:
                failure = err
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_transport(policy: OutboundPolicy) -> httpx2.AsyncHTTPTransport:
    """An httpx2 transport whose every connection is checked, with no proxy from the
    environment (a proxy would connect for us, past the check)."""
    transport = httpx2.AsyncHTTPTransport(trust_env=False)
    # httpx2 takes no network backend either, so its pool is rebuilt with one.
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=httpx2.create_ssl_context(trust_env=False),
        max_connections=100,
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(policy),
    )
    return transport
