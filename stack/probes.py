"""Health probes for the parts of the stack: each answers "is it ready?" without raising."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

from stack.ports import HOST


def http_ok(port: int, path: str = "/") -> bool:
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=1) as response:
        return bool(response.status == 200)


def redis_ping(port: int) -> bool:
    with socket.create_connection((HOST, port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def log_contains(log: Path, text: str) -> bool:
    return log.is_file() and text in log.read_text(errors="replace")


def file_fresh(path: Path, *, within_s: float) -> bool:
    """The file exists and was touched in the last `within_s` seconds (a heartbeat)."""
    return path.is_file() and time.time() - path.stat().st_mtime < within_s
