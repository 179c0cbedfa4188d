"""`start.py sip plan|apply|status` against a real livekit-server (with its Redis): create,
re-apply as a no-op, detect drift made through the API, delete, and leave the dev trunk of
`start.py up --dev` alone."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from livekit import api
from typer.testing import CliRunner

from dialroom.paths import ROOT
from sip.provision import DEV_NAME, provision_dev_inbound
from stack.plan import StackPlan
from stack.ports import pick_free_ports
from stack.services import stack_services
from stack.supervisor import Supervisor
from start import app
from tests.support.redis_server import redis_server

pytestmark = pytest.mark.integration
T = TypeVar("T")
KEY, SECRET = "sipkey", "a-secret-for-the-sip-integration-tests-0123"

CONFIG = """
inbound:
  - name: main
    numbers: ["+15551230000"]
    allowed_addresses: ["10.0.0.1/32"]
    auth: {username: dialroom, password_env: TEST_SIP_PASSWORD}
    max_call_duration_s: 600
    media_encryption: allow
outbound:
  - name: out
    address: sip.example.com:5061
    transport: tls
    numbers: ["+15551230000"]
    media_encryption: require
dispatch:
  - name: main
    trunks: [main]
    default_persona: demo
"""


@pytest.fixture(scope="module")
def livekit_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    run_dir = tmp_path_factory.mktemp("livekit")
    with redis_server(run_dir / "redis", appendonly=False) as redis_port:
        ports = dataclasses.replace(pick_free_ports(0), livekit_redis=redis_port)
        plan = StackPlan(
            ports=ports,
            num_agents=0,
            api_key=KEY,
            api_secret=SECRET,
            run_dir=run_dir,
            agent_name="dialroom",
        )
        (server,) = [s for s in stack_services(plan) if s.name == "livekit-server"]
        supervisor = Supervisor(cwd=ROOT)
        supervisor.start(server)
        try:
            yield plan.livekit_url
        finally:
            supervisor.stop_all()


def on_server(url: str, work: Callable[[api.LiveKitAPI], Awaitable[T]]) -> T:
    async def session() -> T:
        async with api.LiveKitAPI(
            url=url.replace("ws://", "http://"), api_key=KEY, api_secret=SECRET
        ) as lk:
            return await work(lk)

    return asyncio.run(session())


async def _wipe(lk: api.LiveKitAPI) -> None:
    for rule in (await lk.sip.list_dispatch_rule(api.ListSIPDispatchRuleRequest())).items:
        await lk.sip.delete_dispatch_rule(
            api.DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=rule.sip_dispatch_rule_id)
        )
    inbound = (await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())).items
    outbound = (await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())).items
    for trunk in [*inbound, *outbound]:
        await lk.sip.delete_trunk(api.DeleteSIPTrunkRequest(sip_trunk_id=trunk.sip_trunk_id))


@pytest.fixture
def sip(livekit_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Run `start.py sip ARGS` on an empty server; returns its output, asserts its exit code."""
    on_server(livekit_url, _wipe)
    monkeypatch.chdir(tmp_path)  # no .env from the repository
    (tmp_path / "telephony.yaml").write_text(CONFIG)
    env = {
        "LIVEKIT_URL": livekit_url,
        "LIVEKIT_API_KEY": KEY,
        "LIVEKIT_API_SECRET": SECRET,
        "TEST_SIP_PASSWORD": "first-password",
        "COLUMNS": "200",
    }

    def run(*args: str, code: int = 0, **more_env: str | None) -> str:
        file = ["--file", "telephony.yaml"] if args[0] != "status" else []
        result = CliRunner().invoke(app, ["sip", *args, *file], env={**env, **more_env})
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_apply_creates_everything_and_a_second_apply_changes_nothing(
    sip: Callable[..., str], livekit_url: str
) -> None:
    planned = sip("plan")
    assert "3 to create, 0 to update, 0 to delete" in planned
    applied = sip("apply")
    assert "created inbound trunk main" in applied and "created dispatch rule main" in applied
    assert "no changes" in sip("apply")
    assert "no changes" in sip("plan")
    trunks = on_server(
        livekit_url, lambda lk: lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
    ).items
    (trunk,) = trunks
    assert list(trunk.numbers) == ["+15551230000"] and trunk.auth_password == "first-password"
    assert trunk.max_call_duration.seconds == 600
    assert trunk.media_encryption == api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_ALLOW
    (out,) = on_server(
        livekit_url, lambda lk: lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
    ).items
    assert out.media_encryption == api.SIPMediaEncryption.SIP_MEDIA_ENCRYPT_REQUIRE
    assert out.transport == api.SIPTransport.SIP_TRANSPORT_TLS
    status = sip("status")
    assert "main" in status and "out" in status and "yes" in status
    assert "SRTP allow" in status and "sip.example.com:5061 (tls)" in status
    assert "SRTP require" in status


def test_drift_made_through_the_api_shows_in_the_plan_and_apply_repairs_it(
    sip: Callable[..., str], livekit_url: str
) -> None:
    sip("apply")

    async def drift(lk: api.LiveKitAPI) -> None:
        (trunk,) = (await lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())).items
        trunk.numbers.append("+15559990000")
        await lk.sip.update_inbound_trunk(trunk.sip_trunk_id, trunk)

    on_server(livekit_url, drift)
    planned = sip("plan")
    assert "update" in planned and "numbers: [+15551230000, +15559990000] → [+15551230000]" in (
        planned
    )
    assert "0 to create, 1 to update, 0 to delete" in planned
    sip("apply")
    assert "no changes" in sip("plan")


def test_a_changed_password_variable_updates_the_trunk_without_showing_it(
    sip: Callable[..., str],
) -> None:
    sip("apply")
    planned = sip("plan", TEST_SIP_PASSWORD="second-password")
    assert "auth_password: (secret changed)" in planned
    assert "first-password" not in planned and "second-password" not in planned


def test_entries_dropped_from_the_file_are_deleted_and_the_dev_trunk_is_kept(
    sip: Callable[..., str], livekit_url: str, tmp_path: Path
) -> None:
    on_server(
        livekit_url,
        lambda lk: provision_dev_inbound(
            lk, agent_name="dialroom", persona="demo", allowed_addresses=["127.0.0.1/32"]
        ),
    )
    sip("apply")
    (tmp_path / "telephony.yaml").write_text("inbound: []\noutbound: []\ndispatch: []\n")
    planned = sip("plan")
    assert "0 to create, 0 to update, 3 to delete" in planned and DEV_NAME not in planned
    sip("apply")
    assert "no changes" in sip("apply")
    names = on_server(
        livekit_url, lambda lk: lk.sip.list_inbound_trunk(api.ListSIPInboundTrunkRequest())
    ).items
    assert [t.name for t in names] == [DEV_NAME]
    assert DEV_NAME in sip("status")


def test_a_missing_password_variable_is_one_red_line(sip: Callable[..., str]) -> None:
    output = sip("apply", code=1, TEST_SIP_PASSWORD=None)
    assert "TEST_SIP_PASSWORD not set" in output
    assert len(output.strip().splitlines()) == 1


def test_a_hand_made_object_with_the_same_name_is_not_taken_over(
    sip: Callable[..., str], livekit_url: str
) -> None:
    on_server(
        livekit_url,
        lambda lk: lk.sip.create_outbound_trunk(
            api.CreateSIPOutboundTrunkRequest(
                trunk=api.SIPOutboundTrunkInfo(
                    name="out", address="x.example.com", numbers=["+15551230000"]
                )
            )
        ),
    )
    output = sip("apply", code=1)
    assert "outbound trunk named `out`" in output and "not managed" in output
