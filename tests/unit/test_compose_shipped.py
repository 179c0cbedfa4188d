"""docker-compose.yaml works as shipped: trunks applied before workers, personas mounted,
the call history and recordings on volumes the image's user can write.

Rendered offline with `docker-compose config` (tests/support/compose.py).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from dialroom.paths import AGENTS_DIR, PROMPTS_DIR, ROOT
from dialroom.settings import CommonSettings
from sip.spec import TELEPHONY_FILE
from stack.install import LIVEKIT_SERVER, LIVEKIT_SIP
from tests.support.compose import (
    KEYS,
    docker_compose_config,
    rendered_compose,
    rendered_services,
    volume_parts,
)

pytestmark = pytest.mark.unit

IMAGE_ROOT = PurePosixPath("/app")  # the Dockerfile's WORKDIR, where the code runs from
DIALROOM = ("api", "dispatcher", "worker")


def in_image(path: Path) -> str:
    """Where a path of this checkout is inside the image (code runs from /app)."""
    return str(IMAGE_ROOT / path.relative_to(ROOT).as_posix())


def mounts(service: str) -> dict[str, str]:
    """Container path -> source for each volume of a rendered service."""
    found = {}
    for volume in rendered_services()[service].get("volumes", []):
        source, target = volume_parts(volume)
        found[target] = source
    return found


def test_sip_apply_applies_the_mounted_telephony_file_with_start_py() -> None:
    service = rendered_services()["sip-apply"]
    *command, file_flag, target = service["command"]
    assert command == ["python", "start.py", "sip", "apply"] and file_flag == "--file"
    assert mounts("sip-apply")[target] == str(TELEPHONY_FILE)
    assert service["restart"] == "no"
    assert service["depends_on"]["livekit"] == {"condition": "service_healthy"}


def test_sip_apply_has_the_livekit_keys_and_url_it_connects_with() -> None:
    env = rendered_services()["sip-apply"]["environment"]
    fields = {name.upper() for name in CommonSettings.model_fields}
    assert {"LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"} <= set(env) <= fields
    assert env["LIVEKIT_API_KEY"] == KEYS["LIVEKIT_API_KEY"]


def test_sip_apply_reads_trunk_passwords_from_dot_env() -> None:
    # sip/secrets.py reads `.env` from the working directory, the image's /app. Long syntax:
    # Docker creates a missing short-syntax source as a folder, which would then break `.env`.
    assert mounts("sip-apply")[f"{IMAGE_ROOT}/.env"] == str(ROOT / ".env")
    (long,) = [v for v in rendered_services()["sip-apply"]["volumes"] if isinstance(v, dict)]
    assert (long["type"], long["read_only"], long.get("bind", {})) == ("bind", True, {})


def test_workers_start_only_after_the_telephony_file_was_applied() -> None:
    depends = rendered_services()["worker"]["depends_on"]
    assert depends["sip-apply"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("service", DIALROOM)
def test_personas_and_prompts_are_mounted_read_only_where_the_code_looks(service: str) -> None:
    volumes = rendered_services()[service]["volumes"]
    for folder in (AGENTS_DIR, PROMPTS_DIR):
        assert f"{folder}:{in_image(folder)}:ro" in volumes, (service, folder.name)


def test_the_call_history_lives_on_the_history_volume() -> None:
    services = rendered_services()
    url = services["api"]["environment"]["DATABASE_URL"]
    folder = str(PurePosixPath(url.removeprefix("sqlite+aiosqlite:///")).parent)
    for service in ("api", "dispatcher"):
        assert services[service]["environment"]["DATABASE_URL"] == url
        assert mounts(service)[folder] == "history", service


@pytest.mark.parametrize("service", DIALROOM)
def test_recordings_live_on_the_recordings_volume(service: str) -> None:
    folder = rendered_services()[service]["environment"]["RECORDINGS_DIR"]
    assert mounts(service)[folder] == "recordings"


def test_the_image_user_owns_every_named_volumes_mount_point() -> None:
    """A new named volume takes the owner of the folder it is mounted on: a folder the image
    does not create is root's, and the non-root processes cannot write the database."""
    compose = rendered_compose()
    dockerfile = (ROOT / "Dockerfile").read_text()
    (chown,) = re.findall(r"chown dialroom:dialroom ([^\n\\]+)", dockerfile)
    owned = set(chown.split())
    for service in DIALROOM:
        for target, source in mounts(service).items():
            if source in compose["volumes"]:
                assert target in owned, (service, target)


BOX_A_ADDRESS = "10.0.0.1"
TWO_BOXES = ROOT / "deploy" / "compose"


def two_box_services(box: str, tmp: Path) -> dict[str, Any]:
    env = {**KEYS, "BOX_A_ADDRESS": BOX_A_ADDRESS, "NUM_AGENTS": "3"}  # as rendered_services
    done = docker_compose_config(env, tmp, TWO_BOXES / f"{box}.yaml")
    assert done.returncode == 0, done.stderr
    services: dict[str, Any] = yaml.safe_load(done.stdout)["services"]
    return services


def without(command: list[str], *drop: str) -> list[str]:
    return [part for part in command if part not in drop]


def test_box_a_opens_dialrooms_redis_and_livekit_on_its_private_address(tmp_path: Path) -> None:
    box_a, one_box = two_box_services("box-a", tmp_path), rendered_services()
    redis = box_a["redis"]["command"]
    assert redis[redis.index("--bind") + 1 : redis.index("--port")] == ["127.0.0.1", BOX_A_ADDRESS]
    assert without(redis, BOX_A_ADDRESS) == one_box["redis"]["command"]  # only the bind differs
    livekit = box_a["livekit"]["command"]
    assert livekit[:2] == one_box["livekit"]["command"]
    assert livekit[2:] == [
        "--bind",
        "127.0.0.1",
        "--bind",
        BOX_A_ADDRESS,
        "--node-ip",
        BOX_A_ADDRESS,
    ]
    assert box_a["livekit-redis"] == one_box["livekit-redis"]  # LiveKit's bus stays on A


def test_box_b_workers_use_box_as_redis_and_livekit_and_nothing_else_changes(
    tmp_path: Path,
) -> None:
    worker, one_box = two_box_services("box-b", tmp_path)["worker"], rendered_services()["worker"]
    env = worker.pop("environment")
    assert env["LIVEKIT_URL"] == f"ws://{BOX_A_ADDRESS}:7880"
    assert env["REDIS_URL"] == f"redis://:{KEYS['REDIS_PASSWORD']}@{BOX_A_ADDRESS}:6379/0"
    one_box_env = one_box.pop("environment")
    assert sorted(worker.pop("volumes")) == sorted(one_box.pop("volumes"))
    assert {k: v for k, v in env.items() if k not in ("LIVEKIT_URL", "REDIS_URL")} == {
        k: v for k, v in one_box_env.items() if k not in ("LIVEKIT_URL", "REDIS_URL")
    }
    assert worker == one_box


def test_compose_runs_the_livekit_versions_dialroom_builds_and_tests() -> None:
    services = rendered_services()
    assert services["livekit"]["image"] == f"livekit/livekit-server:{LIVEKIT_SERVER.version}"
    assert services["sip"]["image"] == f"livekit/sip:{LIVEKIT_SIP.version}"
