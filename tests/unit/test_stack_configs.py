"""The configs `start.py up` renders carry the Redis password to every Redis client, readable
by this user only; the processes it starts get it in REDIS_URL."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stack.ports import pick_free_ports
from stack.services import (
    APPENDFSYNC,
    StackPlan,
    render_livekit_config,
    render_redis_config,
    render_sip_config,
    stack_services,
)

pytestmark = pytest.mark.unit
PASSWORD = "a-redis-password-1234"


def plan_in(run_dir: Path, password: str) -> StackPlan:
    return StackPlan(
        ports=pick_free_ports(1),
        num_agents=1,
        api_key="key",
        api_secret="secret",
        run_dir=run_dir,
        agent_name="dialroom",
        redis_password=password,
    )


def test_livekit_server_and_the_sip_bridge_get_the_redis_password(tmp_path: Path) -> None:
    plan = plan_in(tmp_path, PASSWORD)
    for config in (render_livekit_config(plan), render_sip_config(plan)):
        redis = yaml.safe_load(config.read_text())["redis"]
        assert redis == {"address": f"127.0.0.1:{plan.ports.redis}", "password": PASSWORD}
        assert config.stat().st_mode & 0o077 == 0, f"{config.name} is readable by others"


def test_redis_runs_with_the_password_and_the_chosen_fsync(tmp_path: Path) -> None:
    text = render_redis_config(plan_in(tmp_path, PASSWORD)).read_text().splitlines()
    assert f"requirepass {PASSWORD}" in text
    assert f"appendfsync {APPENDFSYNC}" in text and "appendonly yes" in text


def test_every_dialroom_process_gets_the_password_in_redis_url(tmp_path: Path) -> None:
    plan = plan_in(tmp_path, PASSWORD)
    url = f"redis://:{PASSWORD}@127.0.0.1:{plan.ports.redis}/0"
    services = {s.name: s for s in stack_services(plan)}
    for name in ("livekit-sip", "api", "dispatcher", "worker-1"):
        assert services[name].env["REDIS_URL"] == url, name
    assert PASSWORD not in services["redis"].address  # what `up` and `status` print
    assert PASSWORD not in " ".join(services["redis"].argv)  # `ps` shows argv


def test_without_a_password_nothing_asks_for_one(tmp_path: Path) -> None:
    plan = plan_in(tmp_path, "")
    assert "requirepass" not in render_redis_config(plan).read_text()
    assert "password" not in yaml.safe_load(render_sip_config(plan).read_text())["redis"]
    assert plan.redis_url == f"redis://127.0.0.1:{plan.ports.redis}/0"
