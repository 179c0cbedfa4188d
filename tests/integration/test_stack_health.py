"""Readiness comes from each process itself: a worker counts as ready only once livekit-server
registered *this* process (as it reports), never from a log line or a file an earlier run left;
the Redis `start.py up` runs answers only with its password."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit.agents import AgentServer
from redis import Redis

from dialroom.paths import ROOT
from dialroom.worker_registration import read_registration, write_registration
from stack.configs import (
    APPENDFSYNC,
    LIVEKIT_APPENDFSYNC,
    render_livekit_redis_config,
    render_redis_config,
)
from stack.health import Health, describe, healthy
from stack.services import worker_service
from stack.supervisor import Service
from tests.support.stack_plan import plan_in
from worker.registration import report_registration

pytestmark = pytest.mark.integration

# A stand-in worker: its status port answers 200 (GET /) and JSON (GET /worker) from the
# start, as livekit-agents' does while it is still connecting; it reports its registration,
# through the real writer, when a line arrives on stdin.
FAKE_WORKER = """
import json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from dialroom.worker_registration import write_registration

class Status(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"OK" if self.path == "/" else json.dumps({"agent_name": "dialroom"}).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["WORKER_PORT"])), Status)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.readline()
write_registration(Path(os.environ["WORKER_REGISTERED_FILE"]), "AW_fake")
sys.stdin.readline()
"""


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[tuple[Service, subprocess.Popen[str]]]:
    """worker-1 of a stack whose run directory holds what an earlier run left: a worker log
    with "registered worker" and a registration file of another process."""
    plan = plan_in(tmp_path)
    service = worker_service(plan, 0)
    service.log.parent.mkdir(parents=True)
    service.log.write_text('{"message": "registered worker", "id": "AW_earlier_run"}\n')
    # The supervisor removes this file before each start; even one it missed does not count.
    (registered,) = service.own_files
    registered.write_text('{"pid": 1, "worker_id": "AW_earlier_run"}')
    process = subprocess.Popen(
        [sys.executable, "-c", FAKE_WORKER],
        cwd=ROOT,
        env={**os.environ, **service.env, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        wait_answering(service.env["WORKER_PORT"], process)
        yield service, process
    finally:
        process.kill()
        process.wait()


def wait_answering(port: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the stand-in worker's status port never answered")


def test_a_worker_is_not_ready_on_an_earlier_runs_log_line_or_file(
    worker: tuple[Service, subprocess.Popen[str]],
) -> None:
    service, process = worker
    assert not service.is_ready(process.pid)
    assert service.health is not None
    assert describe(service.health, process.pid).startswith("not registered, agent dialroom")


def test_a_worker_is_ready_once_it_reports_its_own_registration(
    worker: tuple[Service, subprocess.Popen[str]],
) -> None:
    service, process = worker
    (registered,) = service.own_files
    assert process.stdin is not None
    process.stdin.write("registered\n")
    process.stdin.flush()
    deadline = time.monotonic() + 30
    while (found := read_registration(registered)) is None or found.worker_id != "AW_fake":
        assert time.monotonic() < deadline, "the stand-in never wrote its registration"
        time.sleep(0.05)
    assert service.is_ready(process.pid)
    assert service.health is not None
    assert describe(service.health, process.pid).startswith("registered as AW_fake")
    # The same file read for another process (the one a restart replaces it with): not ready.
    assert not service.is_ready(process.pid + 1)


def test_the_worker_writes_its_registration_when_livekit_server_registers_it(
    tmp_path: Path,
) -> None:
    server = AgentServer()
    path = tmp_path / "worker-1.registered"
    report_registration(server, str(path))
    server.emit("worker_registered", "AW_first", None)
    registration = read_registration(path)
    assert registration is not None
    assert (registration.pid, registration.worker_id) == (os.getpid(), "AW_first")
    server.emit("worker_registered", "AW_after_reconnecting", None)
    registration = read_registration(path)
    assert registration is not None and registration.worker_id == "AW_after_reconnecting"


@pytest.mark.parametrize("which", ["dialroom", "livekit"])
def test_the_stacks_redis_servers_answer_only_with_their_password(
    tmp_path: Path, which: str
) -> None:
    plan = plan_in(tmp_path, redis_password="a-redis-password-1234")
    if which == "dialroom":
        config, url, address = render_redis_config(plan), plan.redis_url, plan.redis_address
        appendfsync = APPENDFSYNC
    else:
        config, url = render_livekit_redis_config(plan), plan.livekit_redis_url
        address, appendfsync = plan.livekit_redis_address, LIVEKIT_APPENDFSYNC
    assert config.stat().st_mode & 0o077 == 0, "the password file is this user's only"
    process = subprocess.Popen(
        ["redis-server", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        with_password = Health(kind="redis", url=url)
        deadline = time.monotonic() + 30
        while not healthy(with_password, process.pid):
            assert process.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)
        assert not healthy(Health(kind="redis", url=address), process.pid)
        with Redis.from_url(url, decode_responses=True) as client:
            assert client.config_get("appendfsync") == {"appendfsync": appendfsync}
            assert client.config_get("appendonly") == {"appendonly": "yes"}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_write_registration_replaces_the_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "registered"
    write_registration(path, "AW_1")
    write_registration(path, "AW_2")
    assert [p.name for p in tmp_path.iterdir()] == ["registered"]


def test_a_dispatcher_whose_heartbeat_went_stale_shows_its_stuck_loop(tmp_path: Path) -> None:
    alive = tmp_path / "dispatcher.alive"
    health = Health(kind="heartbeat", path=str(alive), within_s=10)
    assert describe(health, 1) == "not healthy"  # never beat
    alive.write_text("{}")
    assert describe(health, 1) == "healthy"
    stale = time.time() - 60
    os.utime(alive, (stale, stale))
    (tmp_path / "dispatcher.alive.json").write_text('{"healthy": false, "stuck": ["sweep"]}')
    assert describe(health, 1) == "not healthy (stuck: sweep)"
