"""`start.py` fails with one clear line, naming what to do, for the usual set-up mistakes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dialroom.paths import ROOT
from stack.install import GoBinary, InstallError, build_go_binary

pytestmark = pytest.mark.integration


def run_start(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "start.py"), *args, "--run-dir", str(tmp_path)],
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "300", **env},
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_missing_keys_outside_dev_mode_is_one_line(tmp_path: Path) -> None:
    done = run_start("up", env={"LIVEKIT_API_KEY": "", "LIVEKIT_API_SECRET": ""}, tmp_path=tmp_path)
    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert "LIVEKIT_API_KEY and LIVEKIT_API_SECRET not set" in lines[0]
    assert "--dev" in lines[0]


def test_missing_api_keys_outside_dev_mode_is_one_line(tmp_path: Path) -> None:
    keys = {"LIVEKIT_API_KEY": "prod-key", "LIVEKIT_API_SECRET": "x" * 32, "API_KEYS": ""}
    done = run_start("up", env=keys, tmp_path=tmp_path)
    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert "API_KEYS not set" in lines[0] and "--dev" in lines[0]


@pytest.mark.parametrize(
    ("password", "named"),
    [
        ("", "REDIS_PASSWORD not set"),
        ("short", "REDIS_PASSWORD: must be 16 or more letters, digits, - or _"),
        ("has spaces and @ in it, 16+", "REDIS_PASSWORD: must be 16 or more letters"),
    ],
)
def test_redis_password_outside_dev_mode_is_required_with_one_line(
    tmp_path: Path, password: str, named: str
) -> None:
    keys = {
        "LIVEKIT_API_KEY": "prod-key",
        "LIVEKIT_API_SECRET": "x" * 32,
        "API_KEYS": "a-client-key-of-more-than-32-characters",
        "REDIS_PASSWORD": password,
    }
    done = run_start("up", env=keys, tmp_path=tmp_path)
    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert named in lines[0]


@pytest.mark.parametrize(
    ("module", "env", "named"),
    [
        ("api", {"API_KEYS": "", "DIALROOM_DEV": "0"}, "API_KEYS not set"),
        ("api", {"API_KEYS": "short-key", "DIALROOM_DEV": "0"}, "API_KEYS: key 1 has 9 characters"),
        ("api", {"RATE_LIMIT_PER_MINUTE": "lots", "API_KEYS": "k"}, "RATE_LIMIT_PER_MINUTE"),
        ("dispatcher", {"LIVEKIT_URL": "localhost:7880"}, "LIVEKIT_URL"),
        ("dispatcher", {"MAX_CONCURRENT_CALLS": "0"}, "MAX_CONCURRENT_CALLS"),
    ],
)
def test_the_api_and_dispatcher_stop_on_a_bad_setting_with_one_line(
    tmp_path: Path, module: str, env: dict[str, str], named: str
) -> None:
    keys = {"LIVEKIT_API_KEY": "k", "LIVEKIT_API_SECRET": "s" * 32}
    done = subprocess.run(
        [sys.executable, "-m", module],
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT), **keys, **env},
    )
    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert named in lines[0]


def test_busy_port_is_named_with_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        done = run_start("up", "--dev", env={"SIP_PORT": str(port)}, tmp_path=tmp_path)
    assert done.returncode == 1
    lines = error_lines(done.stderr)
    assert len(lines) == 1, done.stderr
    assert f"sip {port}" in lines[0] and "--auto-ports" in lines[0]


def test_bad_setting_names_the_variable(tmp_path: Path) -> None:
    done = run_start("up", "--dev", env={"LIVEKIT_URL": "localhost:7880"}, tmp_path=tmp_path)
    assert done.returncode == 1
    assert "LIVEKIT_URL" in done.stderr and "ws://" in done.stderr


def test_failed_go_build_says_what_failed_and_where_the_log_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing cached: a real build attempt
    broken = GoBinary(
        name="livekit-server",
        module="github.com/livekit/livekit-server",
        package="github.com/livekit/livekit-server/cmd/no-such-command",
        version="v1.13.5",
    )
    with pytest.raises(InstallError) as caught:
        build_go_binary(broken, progress=lambda _: None)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("building livekit-server v1.13.5 failed")
    assert "full log:" in message and not broken.path.exists()
