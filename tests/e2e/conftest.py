"""The real stack, shared by the tests of a module: started once, stopped with SIGTERM."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.stack import RunningStack, start_stack

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stack"), num_agents=3)
    yield running
    running.stop()


@pytest.fixture
def client(stack: RunningStack) -> Iterator[httpx.Client]:
    """The API of the module's `stack`."""
    with stack.api_client() as http:
        yield http


@pytest.fixture(scope="module")
def phone_port() -> int:
    """A free UDP port for a test phone that answers calls (the dev outbound trunk's target)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def outbound_stack(
    tmp_path_factory: pytest.TempPathFactory, phone_port: int
) -> Iterator[RunningStack]:
    """One worker whose outbound calls go to the test phone on `phone_port`."""
    env = {"SIP_DEV_OUTBOUND_ADDRESS": f"127.0.0.1:{phone_port}", "RING_TIMEOUT_S": "6"}
    running = start_stack(tmp_path_factory.mktemp("outbound"), num_agents=1, env=env)
    yield running
    running.stop()
