"""Install what the local stack needs, idempotently: Debian packages and the LiveKit binaries.

livekit-server and livekit-sip are built from their Go modules into the per-user cache
(`~/.cache/dialroom/bin/<name>-<version>`), with Go's module and build caches beside them,
so a second clone or a CI run on the same machine reuses them and a fresh machine builds
them through this same step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dialroom.paths import cache_dir
from stack.install_browser import ensure_browser
from stack.install_helm import ensure_helm
from stack.install_replaces import copy_replaces

# Debian packages: the Redis server, and the C libraries livekit-sip links against (cgo).
APT_PACKAGES = ("redis-server", "pkg-config", "libopus-dev", "libopusfile-dev", "libsoxr-dev")
# Only the test suite needs these: sox for audio checks, docker-compose to validate the
# compose file offline (`docker-compose config`; no engine needed), postgresql for the call
# history's tests against a real server (tests/support/postgres_server.py).
TEST_APT_PACKAGES = ("sox", "docker-compose", "postgresql")
MIN_GO = (1, 26)


class InstallError(Exception):
    """An install step failed; the message is one line saying what to do."""


@dataclass(frozen=True)
class GoBinary:
    name: str
    module: str
    package: str
    version: str
    cgo: bool = False

    @property
    def path(self) -> Path:
        return cache_dir() / "bin" / f"{self.name}-{self.version}"


# v1.11.0 of livekit-sip is not served by the module proxy reachable here; v1.8.0 is the
# newest that is (see README, "Troubleshooting").
LIVEKIT_SERVER = GoBinary(
    name="livekit-server",
    module="github.com/livekit/livekit-server",
    package="github.com/livekit/livekit-server/cmd/server",
    version="v1.13.5",
)
LIVEKIT_SIP = GoBinary(
    name="livekit-sip",
    module="github.com/livekit/sip",
    package="github.com/livekit/sip/cmd/livekit-sip",
    version="v1.8.0",
    cgo=True,
)
GO_BINARIES = (LIVEKIT_SERVER, LIVEKIT_SIP)

Progress = Callable[[str], None]


def missing_apt_packages(packages: tuple[str, ...] = APT_PACKAGES) -> list[str]:
    if shutil.which("dpkg-query") is None:
        return [p for p in packages if p == "redis-server" and shutil.which(p) is None]
    missing = []
    for package in packages:
        probe = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
        )
        if "install ok installed" not in probe.stdout:
            missing.append(package)
    return missing


def install_apt_packages(packages: list[str], progress: Progress) -> None:
    if not packages:
        return
    if os.geteuid() != 0:
        raise InstallError(
            f"missing Debian packages: run `sudo apt-get install -y {' '.join(packages)}`"
        )
    progress(f"apt-get install {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
            raise InstallError(f"`{' '.join(cmd)}` failed: {' '.join(tail)}")


def go_environment() -> dict[str, str]:
    go = cache_dir() / "go"
    return {
        **os.environ,
        "GOMODCACHE": str(go / "mod"),
        "GOCACHE": str(go / "build"),
        "GOFLAGS": "-mod=mod",
        "GOTOOLCHAIN": "local",
    }


def check_go() -> str:
    go = shutil.which("go")
    if go is None:
        raise InstallError("Go is not on PATH: install Go 1.26 or newer (https://go.dev/dl)")
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    numbers = tuple(int(n) for n in out.removeprefix("go").split(".")[:2] if n.isdigit())
    if numbers < MIN_GO:
        raise InstallError(f"{out} is too old: these builds need Go {MIN_GO[0]}.{MIN_GO[1]}+")
    return go


def build_go_binary(binary: GoBinary, progress: Progress) -> Path:
    """Build `binary` into the cache unless it is there already; return its path."""
    if binary.path.is_file():
        return binary.path
    go = check_go()
    binary.path.parent.mkdir(parents=True, exist_ok=True)
    log_path = cache_dir() / "logs" / f"{binary.name}-{binary.version}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # A throwaway module that requires the pinned version: `go install pkg@version` would also
    # ask the proxy for the module's version list, which some proxies refuse.
    with (
        tempfile.TemporaryDirectory(prefix=f"build-{binary.name}-") as work,
        log_path.open("w") as log,
    ):
        _write_build_module(Path(work), binary)
        env = {**go_environment(), "CGO_ENABLED": "1" if binary.cgo else "0"}
        replaces = copy_replaces(go, f"{binary.module}@{binary.version}", Path(work), env)
        log.writelines(f"replace {r}\n" for r in replaces)  # the module's own forks
        _run_logged([go, "mod", "tidy"], Path(work), env, log, binary, progress, "resolving")
        # a name of its own: two installs building at once (two clones, CI and a shell) must
        # not rename each other's half-written binary
        target = binary.path.with_name(f"{binary.path.name}.{os.getpid()}.partial")
        build = [go, "build", "-v", "-trimpath", "-o", str(target), binary.package]
        _run_logged(build, Path(work), env, log, binary, progress, "compiling")
        target.replace(binary.path)  # atomic: the other build's identical binary is replaced
    return binary.path


def _write_build_module(work: Path, binary: GoBinary) -> None:
    (work / "go.mod").write_text(
        f"module dialroom.local/build/{binary.name}\n\ngo 1.26\n\n"
        f"require {binary.module} {binary.version}\n"
    )
    (work / "tools.go").write_text(
        f'//go:build tools\n\npackage tools\n\nimport _ "{binary.package}"\n'
    )


def _run_logged(
    cmd: list[str],
    cwd: Path,
    env: dict[str, str],
    log: object,
    binary: GoBinary,
    progress: Progress,
    stage: str,
) -> None:
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    count = 0
    last_error = refused = ""
    for line in proc.stdout:
        log.write(line)  # type: ignore[attr-defined]
        count += 1
        if line.startswith(("go: ", "#")) or "error" in line.lower():
            last_error = line.strip()
        if ": reading http" in line and not refused:  # a module the proxy did not serve
            refused = line.strip()
        progress(f"{binary.name} {binary.version}: {stage} ({count} packages) {line.strip()[:60]}")
    if proc.wait() != 0:
        hint = " (cgo: is `libopus-dev libopusfile-dev libsoxr-dev pkg-config` installed?)"
        raise InstallError(
            f"building {binary.name} {binary.version} failed at `{' '.join(cmd[:2])}`: "
            f"{refused or last_error or 'see log'}; full log: {getattr(log, 'name', '')}"
            + (hint if binary.cgo else "")
        )


def check_speech_models() -> None:
    """The offline models ship inside Python packages; make sure those are importable."""
    try:
        from worker.providers.local_stt import default_model_path
        from worker.providers.local_tts import default_voice_path
    except ImportError as err:
        raise InstallError(
            f"offline speech packages missing ({err.name}): run `make install`"
        ) from err
    for path in (default_model_path(), default_voice_path()):
        if not path.exists():
            raise InstallError(f"speech model file missing: {path}; reinstall with `make install`")


def ensure_installed(progress: Progress, *, test_tools: bool = False) -> list[str]:
    """Install whatever is missing; return what was done (empty when all was present)."""
    done: list[str] = []
    wanted = APT_PACKAGES + (TEST_APT_PACKAGES if test_tools else ())
    if missing := missing_apt_packages(wanted):
        install_apt_packages(missing, progress)
        done.append(f"apt: {' '.join(missing)}")
    done += ensure_browser(progress) if test_tools else []  # the console's browser tests
    for binary in GO_BINARIES:
        if not binary.path.is_file():
            build_go_binary(binary, progress)
            done.append(f"built {binary.name} {binary.version}")
    done += ensure_helm(progress) if test_tools else []  # the Helm chart's checks
    progress("checking offline speech models")
    check_speech_models()
    return done
