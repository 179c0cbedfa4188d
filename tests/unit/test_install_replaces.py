"""A module's own `replace` directives reach the throwaway module that builds it.

Runs the real `go` against a file:// module proxy in tmp_path, so nothing leaves the machine:
this is the step that decides whether livekit-server v1.13.6+ is built with LiveKit's pion
forks (stack/install_replaces.py).
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from stack.install import check_go
from stack.install_replaces import copy_replaces

DEP_GO_MOD = """module example.com/dep

go 1.26

require example.com/upstream v1.0.0

replace example.com/upstream => example.com/fork v1.0.0-warp.1

replace example.com/pinned v1.2.0 => example.com/pinned-fork v1.2.0-x

replace example.com/local => ../local
"""


def _serve(proxy: Path, module: str, version: str, go_mod: str) -> None:
    versions = proxy / module / "@v"
    versions.mkdir(parents=True)
    (versions / f"{version}.info").write_text(json.dumps({"Version": version}))
    (versions / f"{version}.mod").write_text(go_mod)
    with zipfile.ZipFile(versions / f"{version}.zip", "w") as archive:
        archive.writestr(f"{module}@{version}/go.mod", go_mod)
        archive.writestr(f"{module}@{version}/dep.go", "package dep\n")


@pytest.fixture
def go_env(tmp_path: Path) -> dict[str, str]:
    proxy = tmp_path / "proxy"
    _serve(proxy, "example.com/dep", "v1.0.0", DEP_GO_MOD)
    return {
        "PATH": "/usr/local/go/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GOPROXY": f"file://{proxy}",
        "GOSUMDB": "off",
        "GOMODCACHE": str(tmp_path / "mod"),
        "GOCACHE": str(tmp_path / "build"),
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
    }


def _work_module(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "go.mod").write_text("module dialroom.local/build/dep\n\ngo 1.26\n")
    return work


def test_versioned_replaces_are_copied_and_local_ones_left_out(
    tmp_path: Path, go_env: dict[str, str]
) -> None:
    go = check_go()
    work = _work_module(tmp_path)
    copied = copy_replaces(go, "example.com/dep@v1.0.0", work, go_env)
    assert copied == [
        "example.com/upstream=example.com/fork@v1.0.0-warp.1",
        "example.com/pinned@v1.2.0=example.com/pinned-fork@v1.2.0-x",
    ]
    printed = subprocess.run(
        [go, "mod", "edit", "-json"], cwd=work, env=go_env, capture_output=True, text=True
    )
    replaces = json.loads(printed.stdout)["Replace"]
    assert {(r["Old"]["Path"], r["New"]["Path"], r["New"]["Version"]) for r in replaces} == {
        ("example.com/upstream", "example.com/fork", "v1.0.0-warp.1"),
        ("example.com/pinned", "example.com/pinned-fork", "v1.2.0-x"),
    }


def test_a_module_the_proxy_does_not_serve_adds_nothing(
    tmp_path: Path, go_env: dict[str, str]
) -> None:
    work = _work_module(tmp_path)
    assert copy_replaces(check_go(), "example.com/dep@v9.9.9", work, go_env) == []
    assert "replace" not in (work / "go.mod").read_text()
