"""docker-compose.yaml as Debian's `docker-compose config` resolves it, without an engine.

Shared by the compose tests (tests/unit/test_compose*.py): the file is rendered once with
test keys and NUM_AGENTS=3, and each test gets its own copy.
"""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from dialroom.paths import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yaml"
KEYS = {
    "LIVEKIT_API_KEY": "test-key",
    "LIVEKIT_API_SECRET": "test-secret-of-32-characters-xx",
    "API_KEYS": "client-key-1",
    "REDIS_PASSWORD": "redis-password-of-compose-1234",
}


def docker_compose_config(
    env: dict[str, str], tmp: Path, *overrides: Path
) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with exactly `env`: no shell variables, no developer's .env;
    `overrides` are further files layered on docker-compose.yaml (`-f` after it)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail(
            "docker-compose is not installed: run `python start.py install --test-tools`",
            pytrace=False,
        )
    empty_env_file = tmp / "empty.env"
    empty_env_file.write_text("")
    return subprocess.run(
        [
            *(binary, "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE)),
            *(arg for path in overrides for arg in ("-f", str(path))),
            "config",
        ],
        cwd=ROOT,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@functools.cache
def _rendered() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        done = docker_compose_config({**KEYS, "NUM_AGENTS": "3"}, Path(tmp))
    assert done.returncode == 0, done.stderr
    parsed: dict[str, Any] = yaml.safe_load(done.stdout)
    return parsed


def rendered_compose() -> dict[str, Any]:
    """The whole resolved file (services, volumes) with the keys and NUM_AGENTS=3."""
    return copy.deepcopy(_rendered())


def volume_parts(volume: str | dict[str, Any]) -> tuple[str, str]:
    """(source, target) of a volume in short (`src:dst:mode`) or long (a mapping) syntax."""
    if isinstance(volume, dict):
        return str(volume["source"]), str(volume["target"])
    source, target, *_ = volume.split(":")
    return source, target


def rendered_services() -> dict[str, Any]:
    """The services as `docker-compose config` resolves them with the keys and NUM_AGENTS=3.

    Called from each test, not a fixture, so a missing docker-compose fails the tests.
    """
    return rendered_compose()["services"]
