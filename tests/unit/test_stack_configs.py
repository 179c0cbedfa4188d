"""The configs `start.py up` renders: two Redis servers (Dialroom's and LiveKit's own), the
password carried to every Redis client, readable by this user only; Dialroom's processes get
Dialroom's Redis in REDIS_URL, livekit-server and livekit-sip only LiveKit's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from stack.configs import (
    APPENDFSYNC,
    LIVEKIT_APPENDFSYNC,
    render_livekit_config,
    render_livekit_redis_config,
    render_redis_config,
    render_sip_config,
)
from stack.services import stack_services
from tests.support.stack_plan import plan_in

pytestmark = pytest.mark.unit
PASSWORD = "a-redis-password-1234"


def conf(path: Path) -> dict[str, str]:
    """A redis.conf as {directive: its value}."""
    return dict(line.split(" ", 1) for line in path.read_text().splitlines())


def test_livekit_server_and_the_sip_bridge_use_livekits_own_redis(tmp_path: Path) -> None:
    plan = plan_in(tmp_path, redis_password=PASSWORD)
    assert plan.ports.livekit_redis != plan.ports.redis
    for config in (render_livekit_config(plan), render_sip_config(plan)):
        redis = yaml.safe_load(config.read_text())["redis"]
        assert redis == {"address": f"127.0.0.1:{plan.ports.livekit_redis}", "password": PASSWORD}
        assert config.stat().st_mode & 0o077 == 0, f"{config.name} is readable by others"


def test_the_two_redis_servers_have_their_own_port_data_and_fsync(tmp_path: Path) -> None:
    plan = plan_in(tmp_path, redis_password=PASSWORD)
    dialroom = conf(render_redis_config(plan))
    livekit = conf(render_livekit_redis_config(plan))
    assert (dialroom["port"], livekit["port"]) == (
        str(plan.ports.redis),
        str(plan.ports.livekit_redis),
    )
    assert dialroom["dir"] != livekit["dir"]
    assert (dialroom["appendfsync"], livekit["appendfsync"]) == (APPENDFSYNC, LIVEKIT_APPENDFSYNC)
    assert APPENDFSYNC == "always"  # a 202 from the API means the call is on disk
    for config in (dialroom, livekit):
        assert config["requirepass"] == PASSWORD
        assert config["appendonly"] == "yes"  # LiveKit's holds the SIP trunks and rules
        assert config["bind"] == "127.0.0.1"


def test_only_dialroom_processes_get_dialrooms_redis_in_redis_url(tmp_path: Path) -> None:
    plan = plan_in(tmp_path, redis_password=PASSWORD)
    url = f"redis://:{PASSWORD}@127.0.0.1:{plan.ports.redis}/0"
    services = {s.name: s for s in stack_services(plan)}
    for name in ("api", "dispatcher", "worker-1"):
        assert services[name].env["REDIS_URL"] == url, name
    assert "REDIS_URL" not in services["livekit-sip"].env  # its Redis is in its config
    for name in ("redis", "livekit-redis"):
        assert PASSWORD not in services[name].address  # what `up` and `status` print
        assert PASSWORD not in " ".join(services[name].argv)  # `ps` shows argv


def test_each_redis_is_started_before_its_clients_and_checked_with_the_password(
    tmp_path: Path,
) -> None:
    plan = plan_in(tmp_path, redis_password=PASSWORD)
    services = stack_services(plan)
    names = [s.name for s in services]
    assert names.index("redis") < names.index("api")
    assert names.index("livekit-redis") < names.index("livekit-server")
    health = {s.name: s.health for s in services}
    assert health["redis"] is not None and health["redis"].url == plan.redis_url
    assert health["livekit-redis"] is not None
    assert health["livekit-redis"].url == (
        f"redis://:{PASSWORD}@127.0.0.1:{plan.ports.livekit_redis}/0"
    )


def test_without_a_password_nothing_asks_for_one(tmp_path: Path) -> None:
    plan = plan_in(tmp_path)
    assert "requirepass" not in render_redis_config(plan).read_text()
    assert "requirepass" not in render_livekit_redis_config(plan).read_text()
    assert "password" not in yaml.safe_load(render_sip_config(plan).read_text())["redis"]
    assert "password" not in yaml.safe_load(render_livekit_config(plan).read_text())["redis"]
    assert plan.redis_url == f"redis://127.0.0.1:{plan.ports.redis}/0"
    assert plan.livekit_redis_url == f"redis://127.0.0.1:{plan.ports.livekit_redis}/0"


def test_development_mode_reaches_every_dialroom_process(tmp_path: Path) -> None:
    """`up --dev` lets webhooks and HTTP tools reach loopback: the dispatcher and workers need
    DIALROOM_DEV as much as the API does."""
    plan = dataclasses.replace(plan_in(tmp_path), dev_mode=True)
    assert plan.child_env()["DIALROOM_DEV"] == "1"
    assert "DIALROOM_DEV" not in plan_in(tmp_path).child_env()
