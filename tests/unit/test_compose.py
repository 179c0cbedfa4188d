"""docker-compose.yaml and .env.example stay correct without a Docker engine.

Debian's `docker-compose config` validates and interpolates the compose file offline; the
worker's port-claiming entrypoint and healthcheck run here as plain shell and Python.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from api.settings import ApiSettings
from callcheck.settings import CheckCallSettings
from dialroom.paths import ROOT
from dialroom.settings import CommonSettings
from dispatcher.settings import DispatcherSettings
from stack.configs import APPENDFSYNC, LIVEKIT_APPENDFSYNC
from stack.settings import StackSettings
from tests.support.compose import COMPOSE_FILE, KEYS, docker_compose_config, rendered_services
from worker.settings import ProviderKeys, WorkerSettings

pytestmark = pytest.mark.unit

ENV_EXAMPLE = ROOT / ".env.example"
# Long-running services; `sip-apply` runs once before the workers (test_compose_shipped.py).
SERVICES = {"redis", "livekit-redis", "livekit", "sip", "api", "dispatcher", "worker"}
ONE_SHOT = {"sip-apply"}
SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    CommonSettings,
    WorkerSettings,
    ProviderKeys,
    StackSettings,
    ApiSettings,
    DispatcherSettings,
    CheckCallSettings,
)


def test_compose_runs_the_seven_services_and_a_one_shot_on_the_host_network() -> None:
    services = rendered_services()
    assert set(services) == SERVICES | ONE_SHOT
    assert {name: s.get("network_mode") for name, s in services.items()} == dict.fromkeys(
        SERVICES | ONE_SHOT, "host"
    )


def test_num_agents_sets_the_worker_replicas() -> None:
    services = rendered_services()
    assert services["worker"]["deploy"]["replicas"] == 3


def test_every_long_running_service_has_a_healthcheck() -> None:
    services = rendered_services()
    for name in SERVICES:
        service = services[name]
        check = service.get("healthcheck", {})
        assert not check.get("disable"), name
        assert check.get("test", [])[:1] in (["CMD"], ["CMD-SHELL"]), name


def test_livekit_and_sip_mount_the_committed_configs() -> None:
    services = rendered_services()
    livekit = services["livekit"]
    assert f"{ROOT / 'livekit.yaml'}:/etc/livekit.yaml:ro" in livekit["volumes"]
    assert livekit["command"] == ["--config", "/etc/livekit.yaml"]
    # The livekit/sip image's entrypoint reads --config=/sip/config.yaml.
    assert f"{ROOT / 'sip' / 'config.yaml'}:/sip/config.yaml:ro" in services["sip"]["volumes"]


def test_livekit_keys_reach_livekit_server_the_sip_bridge_and_dialroom() -> None:
    services = rendered_services()
    key, secret = KEYS["LIVEKIT_API_KEY"], KEYS["LIVEKIT_API_SECRET"]
    assert services["livekit"]["environment"]["LIVEKIT_KEYS"] == f"{key}: {secret}"
    for name in ("sip", "api", "dispatcher", "worker", "sip-apply"):
        env = services[name]["environment"]
        assert (env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"]) == (key, secret), name
    assert services["sip"]["environment"]["LIVEKIT_WS_URL"] == "ws://127.0.0.1:7880"


@pytest.mark.parametrize("name", ["api", "dispatcher", "worker"])
def test_api_dispatcher_and_worker_wait_for_healthy_livekit_and_redis(name: str) -> None:
    depends = rendered_services()[name]["depends_on"]
    assert depends["livekit"] == {"condition": "service_healthy"}
    assert depends["redis"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("name", ["livekit", "sip"])
def test_livekit_server_and_the_sip_bridge_wait_for_their_own_redis_only(name: str) -> None:
    depends = rendered_services()[name]["depends_on"]
    assert depends["livekit-redis"] == {"condition": "service_healthy"}
    assert "redis" not in depends  # Dialroom's store: none of LiveKit's business


def redis_port(service: dict[str, Any]) -> str:
    command = service["command"]
    return str(command[command.index("--port") + 1])


def test_the_committed_livekit_configs_name_livekits_redis_not_dialrooms() -> None:
    services = rendered_services()
    dialroom, livekit = redis_port(services["redis"]), redis_port(services["livekit-redis"])
    assert dialroom != livekit
    assert services["api"]["environment"]["REDIS_URL"].endswith(f"@127.0.0.1:{dialroom}/0")
    for config in (ROOT / "livekit.yaml", ROOT / "sip" / "config.yaml"):
        address = yaml.safe_load(config.read_text())["redis"]["address"]
        assert address == f"127.0.0.1:{livekit}", config.name
    defaults = StackSettings.model_fields
    assert (defaults["redis_port"].default, defaults["livekit_redis_port"].default) == (
        int(dialroom),
        int(livekit),
    )


@pytest.mark.parametrize(
    "missing", ["LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "API_KEYS", "REDIS_PASSWORD"]
)
def test_compose_refuses_to_start_without_its_keys(tmp_path: Path, missing: str) -> None:
    env = {name: value for name, value in KEYS.items() if name != missing}
    done = docker_compose_config(env, tmp_path)
    assert done.returncode != 0
    assert f"set {missing} in .env" in done.stderr


@pytest.mark.parametrize(
    ("name", "appendfsync"), [("redis", APPENDFSYNC), ("livekit-redis", LIVEKIT_APPENDFSYNC)]
)
def test_redis_requires_the_password_and_fsyncs_as_start_py_does(
    name: str, appendfsync: str
) -> None:
    redis = rendered_services()[name]
    command = redis["command"]
    assert command[command.index("--requirepass") + 1] == KEYS["REDIS_PASSWORD"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == appendfsync
    # The healthcheck's redis-cli authenticates from REDISCLI_AUTH, and asks this server.
    assert redis["environment"]["REDISCLI_AUTH"] == KEYS["REDIS_PASSWORD"]
    assert f"-p {redis_port(redis)} ping" in redis["healthcheck"]["test"][1]


def test_each_redis_keeps_its_data_in_its_own_volume() -> None:
    services = rendered_services()
    assert services["redis"]["volumes"] == ["redis-data:/data:rw"]
    assert services["livekit-redis"]["volumes"] == ["livekit-redis-data:/data:rw"]


@pytest.mark.parametrize("name", ["api", "dispatcher", "worker"])
def test_dialroom_processes_reach_redis_with_the_password(name: str) -> None:
    env = rendered_services()[name]["environment"]
    assert env["REDIS_URL"] == f"redis://:{KEYS['REDIS_PASSWORD']}@127.0.0.1:6379/0"


def test_livekit_server_gets_the_redis_password() -> None:
    # livekit-server's --redis-password flag reads REDIS_PASSWORD.
    env = rendered_services()["livekit"]["environment"]
    assert env["REDIS_PASSWORD"] == KEYS["REDIS_PASSWORD"]


def test_sip_bridge_config_gets_the_redis_password(tmp_path: Path) -> None:
    """The sip entrypoint, run as plain shell on the committed config, with a stand-in
    `livekit-sip` that prints the config body it was given."""
    sip = rendered_services()["sip"]
    fake = tmp_path / "livekit-sip"
    fake.write_text('#!/bin/sh\nprintf %s "$SIP_CONFIG_BODY"\n')
    fake.chmod(0o755)
    entrypoint = [part.replace("$$", "$") for part in sip["entrypoint"]]
    entrypoint[-1] = entrypoint[-1].replace("/sip/config.yaml", str(ROOT / "sip" / "config.yaml"))
    done = subprocess.run(
        entrypoint,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", **sip["environment"]},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    committed = yaml.safe_load((ROOT / "sip" / "config.yaml").read_text())
    assert config["redis"] == {**committed["redis"], "password": KEYS["REDIS_PASSWORD"]}
    assert {k: v for k, v in config.items() if k != "redis"} == {
        k: v for k, v in committed.items() if k != "redis"
    }


def run_worker_entrypoint(slots: Path, port_file: Path) -> subprocess.Popen[str]:
    """The worker container's entrypoint, with a command that prints its port, then waits."""
    # `config` prints a valid compose file, so the container's `$` still reads `$$`.
    entrypoint = [part.replace("$$", "$") for part in rendered_services()["worker"]["entrypoint"]]
    wait_for_stdin = (
        "import os, sys; print(os.environ['WORKER_PORT'], flush=True); sys.stdin.read()"
    )
    return subprocess.Popen(
        [*entrypoint, sys.executable, "-c", wait_for_stdin],
        env={
            "PATH": "/usr/bin:/bin",
            "WORKER_PORT": "8081",
            "WORKER_SLOT_DIR": str(slots),
            "WORKER_PORT_FILE": str(port_file),
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.readline()


def test_worker_replicas_claim_distinct_ports_and_free_them_on_exit(tmp_path: Path) -> None:
    slots = tmp_path / "slots"
    slots.mkdir()
    replicas = [run_worker_entrypoint(slots, tmp_path / f"port-{i}") for i in range(3)]
    try:
        ports = [int(first_line(replica)) for replica in replicas]
        assert sorted(ports) == [8081, 8082, 8083]
        for i, port in enumerate(ports):
            assert (tmp_path / f"port-{i}").read_text().strip() == str(port)
    finally:
        for replica in replicas:
            replica.communicate("", timeout=10)
    restarted = run_worker_entrypoint(slots, tmp_path / "port-again")
    out, _ = restarted.communicate("", timeout=10)
    assert out.strip() == "8081"


@pytest.fixture
def worker_http() -> Iterator[tuple[int, list[int]]]:
    """A stand-in for a worker's HTTP port: GET / answers with the status in `status[0]`."""
    status = [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status[0] if self.path == "/" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            """No request log on stderr."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], status
    finally:
        server.shutdown()
        server.server_close()


def test_worker_healthcheck_probes_the_port_its_replica_claimed(
    worker_http: tuple[int, list[int]], tmp_path: Path
) -> None:
    port, status = worker_http
    port_file = tmp_path / "worker-port"
    port_file.write_text(f"{port}\n")
    kind, program, *args = rendered_services()["worker"]["healthcheck"]["test"]
    assert (kind, program) == ("CMD", "python")

    def healthy() -> bool:
        done = subprocess.run(
            [sys.executable, *args],
            env={"WORKER_PORT_FILE": str(port_file)},
            capture_output=True,
            timeout=30,
        )
        return done.returncode == 0

    assert healthy()
    status[0] = 503  # a worker that lost livekit-server
    assert not healthy()


def test_dispatcher_healthcheck_is_the_age_of_its_health_file(tmp_path: Path) -> None:
    service = rendered_services()["dispatcher"]
    path = service["environment"]["DISPATCHER_HEALTH_FILE"]
    kind, program, *args = service["healthcheck"]["test"]
    assert (kind, program) == ("CMD", "python") and path in args[-1]
    alive = tmp_path / "alive"
    command = [sys.executable, *args[:-1], args[-1].replace(path, str(alive))]

    def healthy() -> bool:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0

    assert not healthy()  # no file: the dispatcher never swept
    alive.touch()
    assert healthy()
    stale = time.time() - 60
    os.utime(alive, (stale, stale))
    assert not healthy()


def env_example() -> dict[str, tuple[str, str]]:
    """NAME -> (value, the line above it) for each setting in .env.example."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    entries = {}
    for above, line in zip(["", *lines], lines, strict=False):
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            entries[name] = (value, above)
    return entries


def setting_defaults() -> dict[str, str]:
    defaults = {}
    for cls in SETTINGS_CLASSES:
        for name, field in cls.model_fields.items():
            default = field.default
            if isinstance(default, Path):
                default = default.relative_to(ROOT)
            defaults[name.upper()] = "" if default is None else str(default)
    return defaults


def test_env_example_lists_every_setting_with_its_default_and_a_comment() -> None:
    entries = env_example()
    assert set(entries) == set(setting_defaults())
    for name, default in setting_defaults().items():
        value, above = entries[name]
        assert value == default, name
        assert above.startswith("# "), f"{name} has no comment line above it"


def test_compose_reads_only_variables_documented_in_env_example() -> None:
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", COMPOSE_FILE.read_text()))
    assert used
    assert used <= set(env_example())


# Settings compose leaves at their defaults on purpose: paths inside the image, dev mode (compose
# is production) and the dispatcher's internal timing knobs.
NOT_PASSED = {
    *("AGENTS_DIR", "PROMPTS_DIR", "DIALROOM_DEV", "READY_TIMEOUT_S", "ANSWERED_TIMEOUT_S"),
    *("CLAIM_IDLE_S", "DISPATCHER_NAME", "POLL_INTERVAL_S", "ROOM_EMPTY_TIMEOUT_S"),
    "REDISPATCH_AFTER_S",
    "WORKER_REGISTERED_FILE",  # start.py's readiness; compose asks the worker's status port
    "GREETING_CACHE_DIR",  # a path inside the image (the dialroom user's cache)
}


@pytest.mark.parametrize(
    ("service", "settings"),
    [("api", ApiSettings), ("dispatcher", DispatcherSettings), ("worker", WorkerSettings)],
)
def test_every_setting_of_a_service_reaches_its_container(
    service: str, settings: type[BaseSettings]
) -> None:
    environment = set(rendered_services()[service]["environment"])
    wanted = {name.upper() for name in settings.model_fields} - NOT_PASSED
    assert wanted <= environment, f"{service} misses {sorted(wanted - environment)}"
