"""Where Dialroom's own requests may go: never to the machine's inside, unless named.

An API client's `callback_url` and a persona's HTTP tool URL are written by people who do not
run the machine, and the dispatcher and the workers request them. Left alone, such a URL
reaches what only the machine can: its loopback services (Redis, the LiveKit API), the
private network, link-local addresses (the cloud metadata service at 169.254.169.254 hands
out credentials), carrier-grade NAT. So every connection is checked on the address actually
connected to, after DNS, each time: a name that resolves to a public address when a URL is
checked and to 127.0.0.1 when the request is made (DNS rebinding) is still refused.

Exceptions are named, never implied: `OUTBOUND_ALLOWED_HOSTS` lists host names (or address
literals) that may resolve anywhere, and development mode (`start.py up --dev`) allows
loopback so a receiver on the developer's own machine can be tried.

The guard has one form per HTTP client: a connector for aiohttp (HTTP tools) and a network
backend for httpx (webhooks). Both refuse before a socket connects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import httpcore
import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Checked in order; the first range an address falls in names why it is refused.
_REFUSED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cloud metadata", ("169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32")),
    ("loopback", ("127.0.0.0/8", "::1/128")),
    ("unspecified", ("0.0.0.0/8", "::/128")),
    ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("link-local", ("169.254.0.0/16", "fe80::/10")),
    ("carrier-grade NAT", ("100.64.0.0/10",)),
    ("multicast", ("224.0.0.0/4", "ff00::/8")),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # a NAT64 gateway reaches the IPv4 inside
_RANGES = tuple(
    (reason, tuple(ipaddress.ip_network(net) for net in nets)) for reason, nets in _REFUSED
)


class Switches(Protocol):
    """The two settings the policy reads (every process's `CommonSettings` has them)."""

    dialroom_dev: bool
    outbound_allowed_hosts: str


class BlockedAddress(OSError):
    """A connection the policy refuses; the message names the host, address and why."""


def address_refusal(address: IpAddress) -> str | None:
    """Why Dialroom never connects to this address on its own, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # 64:ff9b::a9fe:a9fe
    for reason, networks in _RANGES:
        if any(address in network for network in networks):
            return reason
    if not address.is_global:
        return "reserved"
    return None


def literal_address(host: str) -> IpAddress | None:
    """The address when `host` is an IP literal (brackets allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True, kw_only=True)
class OutboundPolicy:
    allow_loopback: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, settings: Switches) -> OutboundPolicy:
        names = settings.outbound_allowed_hosts.split(",")
        hosts = frozenset(h.strip().lower().rstrip(".") for h in names if h.strip())
        return cls(allow_loopback=settings.dialroom_dev, allowed_hosts=hosts)

    def host_allowed(self, host: str) -> bool:
        """A host named in OUTBOUND_ALLOWED_HOSTS: any address it resolves to is fine."""
        return host.strip("[]").lower().rstrip(".") in self.allowed_hosts

    def refusal(self, host: str, address: str) -> str | None:
        """Why connecting to `address` (which `host` resolved to) is refused, or None."""
        reason = address_refusal(ipaddress.ip_address(address.split("%")[0]))
        if reason is None or (reason == "loopback" and self.allow_loopback):
            return None
        return (
            f"{host} is {address}, a {reason} address; webhooks and HTTP tools only reach "
            "public addresses (name the host in OUTBOUND_ALLOWED_HOSTS to allow it)"
        )

    def literal_refusal(self, host: str) -> str | None:
        """For a URL checked before any request: why its host, an IP literal or `localhost`,
        is refused. A name is checked when it is connected to, not here."""
        if self.host_allowed(host):
            return None
        lowered = host.lower().rstrip(".")
        if lowered == "localhost" or lowered.endswith(".localhost"):
            return self.refusal(host, "127.0.0.1")
        address = literal_address(host)
        return self.refusal(host, str(address)) if address is not None else None

    def check(self, host: str, addresses: Iterable[str]) -> None:
        """Raise BlockedAddress when any address `host` resolved to is refused."""
        if self.host_allowed(host):
            return
        for address in addresses:
            if (reason := self.refusal(host, address)) is not None:
                raise BlockedAddress(reason)


# aiohttp (HTTP tools): the connector hands every resolved address to a socket factory,
# literal hosts included, just before it connects.


def aiohttp_connector(policy: OutboundPolicy, host: str) -> aiohttp.TCPConnector:
    """A connector for requests to `host` that refuses sockets to refused addresses."""
    if policy.host_allowed(host):
        return aiohttp.TCPConnector()

    def guarded_socket(addr_info: tuple[Any, ...]) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        policy.check(host, [sockaddr[0]])
        return socket.socket(family=family, type=kind, proto=proto)

    return aiohttp.TCPConnector(socket_factory=guarded_socket)


# httpx (webhooks): a network backend that resolves the name itself, checks every address,
# then connects to the checked address (TLS still verifies the host name).


async def addresses_to_connect(policy: OutboundPolicy, host: str, port: int) -> list[str]:
    """What a network backend may connect to for `host`: the name itself when it is allowed
    anywhere, else every address it resolves to, each checked (BlockedAddress, or OSError
    when it does not resolve). Shared by the httpx and the httpx2 (MCP) backends."""
    if policy.host_allowed(host):
        return [host]
    infos = await asyncio.get_running_loop().getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM
    )
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    policy.check(host, addresses)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await addresses_to_connect(self.policy, host, port)
        except BlockedAddress as err:
            raise httpcore.ConnectError(str(err)) from err
        except OSError as err:  # the name does not resolve
            raise httpcore.ConnectError(f"{host}: {err}") from err
        failure: Exception = httpcore.ConnectError(f"{host}: no address")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as err:
                failure = err
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_transport(policy: OutboundPolicy) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection is checked; no connection cap of its own
    (callers limit per receiver) and no proxy from the environment (a proxy would connect
    for us, past the check)."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx takes no network backend, so its pool is rebuilt with one (same defaults).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=None,
        max_keepalive_connections=100,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(policy),
    )
    return transport
