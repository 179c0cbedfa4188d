"""docker-compose.yaml works as shipped, without a Docker engine: every service's command line,
environment and health check run as local processes (tests/support/compose_local.py), in the
order its depends_on says, and a real SIP phone calls through them.

The one-shot `sip-apply` applies a telephony file mounted where sip/telephony.yaml would be
(the shipped one is empty): a loopback trunk and a rule for the demo persona, the only trunk
and rule on the server, so the call proves the one-shot ran before the worker took it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from redis.asyncio import Redis

from callcheck.phone import dial
from dialroom import worker_lines
from sip.spec import TELEPHONY_FILE
from tests.e2e.conftest import FIXTURES
from tests.support.compose import docker_compose_config
from tests.support.compose_local import has_programs, run_locally
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e

KEYS = {
    "LIVEKIT_API_KEY": "compose-key",
    "LIVEKIT_API_SECRET": "compose-secret-of-more-than-32-characters",
    "API_KEYS": "compose-client-key-of-more-than-32-characters",
    "REDIS_PASSWORD": "compose-redis-password-1234",
}
TELEPHONY = """
inbound:
  - {name: compose-in, allowed_addresses: ["127.0.0.1/32"]}
dispatch:
  - {name: compose, trunks: [compose-in], default_persona: demo}
"""


def rendered(tmp: Path) -> dict[str, Any]:
    done = docker_compose_config({**KEYS, "NUM_AGENTS": "1"}, tmp)
    assert done.returncode == 0, done.stderr
    compose: dict[str, Any] = yaml.safe_load(done.stdout)
    return compose


def test_a_call_through_the_compose_services_run_as_local_processes(tmp_path: Path) -> None:
    assert not (missing := has_programs()), f"missing {missing}: run `make install`"
    telephony = tmp_path / "telephony.yaml"
    telephony.write_text(TELEPHONY)
    compose = rendered(tmp_path)
    heard = tmp_path / "heard.wav"
    run_dir = tmp_path / "compose"
    with run_locally(compose, run_dir, sources={TELEPHONY_FILE: telephony}) as running:
        assert "applied" in running.services["sip-apply"].logs.read_text()
        # Healthy (its status port answers) comes before livekit-server has registered it;
        # a worker publishes free lines once registered. A caller a second earlier is
        # handled by the dispatcher's redispatch, which other tests cover.
        asyncio.run(wait_for_free_line(running.services["api"].env["REDIS_URL"]))
        result = dial(
            f"sip:2000@127.0.0.1:{running.ports.sip}",
            result_dir=tmp_path,
            play=[(FIXTURES / "caller_tuesday.wav", 7.0)],
            record=heard,
            hangup_after=40,
            timeout=60,
        )
        call, detail = archived_call(running.ports.api)
    assert result.call.status_code == 200 and result.call.remote_hangup
    text = transcribe_wav(heard).lower()
    assert "tuesday" in text and "goodbye" in text, what_happened(text, detail, run_dir)
    assert (call["direction"], call["persona"]) == ("inbound", "demo")
    # The call history is the SQLite file on the `history` volume the API and dispatcher share.
    assert (run_dir / "volumes" / "history" / "dialroom.db").is_file()


async def wait_for_free_line(redis_url: str, timeout_s: float = 60.0) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        deadline = time.monotonic() + timeout_s
        while await worker_lines.free_lines(redis) < 1:
            assert time.monotonic() < deadline, "no worker registered with a free line"
            await asyncio.sleep(0.25)
    finally:
        await redis.aclose()


def archived_call(api_port: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The call as the API lists it once the dispatcher has archived it, and its detail."""
    headers = {"X-API-Key": KEYS["API_KEYS"]}
    with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers=headers) as client:
        deadline = time.monotonic() + 30
        while True:
            calls = [c for c in client.get("/api/calls").json()["calls"] if c["outcome"]]
            if calls:
                (call,) = calls
                detail = client.get(f"/api/calls/{call['call_id']}").json()
                assert detail["archived"] is True
                return call, detail
            assert time.monotonic() < deadline, "the call never reached the call history"
            time.sleep(0.5)


def what_happened(heard: str, detail: dict[str, Any], run_dir: Path) -> str:
    """A failure's story: what the phone heard, the call record, the worker's own log lines."""
    record = detail.get("record") or {}
    said = [(line.get("role"), line.get("text")) for line in record.get("transcript", [])]
    worker_log = (run_dir / "logs" / "worker.log").read_text(errors="replace").splitlines()
    own = [line[:300] for line in worker_log if '"dialroom' in line or "ERROR" in line]
    return "\n".join(
        [
            f"heard at the phone: {heard!r}",
            f"outcome {detail.get('outcome')!r}, error {record.get('error')!r}",
            f"started {record.get('started_at')!r}, ended {record.get('ended_at')!r}",
            f"transcript: {said!r}",
            "worker log (dialroom lines and errors):",
            *own[-40:],
        ]
    )
