"""A bare Redis probe (no client library, no password) for the throwaway Redis servers tests
and benchmarks start; the stack's own checks are in `stack.health`."""

from __future__ import annotations

import socket

from stack.ports import HOST


def redis_ping(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
