"""docker-compose.yaml's services run as local processes: no Docker engine runs here.

Each service of the file as `docker-compose config` resolves it becomes one process with the
service's own command line (its image's entrypoint, or the service's), environment and
health check, started in the order its `depends_on` conditions say. Only what a container
would see differently is translated, the same way for every service:

- ports: the file's fixed ports (stack/ports.py's defaults) become free loopback ports, in
  every string of the service and in the files it mounts, so two runs never collide;
- paths: each volume's mount point becomes a folder of the run (a named volume) or the bind
  mount's source (a mounted file is copied, its ports moved); a container's own /tmp is a
  folder of its own; /app, the image's working directory, is this checkout;
- programs: the images' programs are the ones built here (redis-server from Debian,
  livekit-server and livekit-sip from the per-user cache, Python from this venv).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialroom.paths import ROOT
from stack.install import LIVEKIT_SERVER, LIVEKIT_SIP
from stack.ports import StackPorts, pick_free_ports
from tests.support.compose import volume_parts

# Entrypoints of the images the file names, where the service does not give its own.
IMAGE_ENTRYPOINTS = {"livekit/livekit-server": ["livekit-server"]}
# The Dockerfile's ENV, with /app (its WORKDIR and PYTHONPATH) as this checkout.
IMAGE_ENV = {"PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)}


class ComposeFailed(Exception):
    """A service exited, or did not become healthy; carries the end of its log."""


def port_map(picked: StackPorts) -> dict[str, str]:
    """The file's port (stack/ports.py's defaults) -> the free one picked for this run."""
    fixed = StackPorts()
    pairs = {
        fixed.redis: picked.redis,
        fixed.livekit_redis: picked.livekit_redis,
        fixed.livekit: picked.livekit,
        fixed.livekit_rtc_tcp: picked.livekit_rtc_tcp,
        fixed.sip: picked.sip,
        fixed.sip_health: picked.sip_health,
        fixed.api: picked.api,
        fixed.worker_base: picked.worker_base,
    }
    for old, new in (
        (fixed.livekit_rtc_udp, picked.livekit_rtc_udp),
        (fixed.sip_rtp, picked.sip_rtp),
    ):
        pairs[old.start] = new.start
        pairs[old.end] = new.start + (old.end - old.start)
    return {str(old): str(new) for old, new in pairs.items()}


@dataclass
class LocalService:
    name: str
    argv: list[str]
    env: dict[str, str]
    health: list[str] | None
    depends: dict[str, str]
    logs: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def log_tail(self) -> str:
        text = self.logs.read_text(errors="replace") if self.logs.exists() else ""
        return "\n".join(text.splitlines()[-15:])


class Translator:
    """Moves one service's ports and paths from the container's view to this machine's."""

    def __init__(self, ports: dict[str, str], run_dir: Path, sources: dict[Path, Path]) -> None:
        self._ports = re.compile(r"\b(" + "|".join(map(re.escape, ports)) + r")\b")
        self._port_map = ports
        self._run_dir = run_dir
        self._sources = sources  # a bind mount's source -> what the test mounts instead

    def ports(self, text: str) -> str:
        return self._ports.sub(lambda m: self._port_map[m.group(1)], text)

    def mounts(self, name: str, service: dict[str, Any]) -> dict[str, str]:
        """Container path -> path here, longest first."""
        found = {"/tmp": str(self._folder("containers", name, "tmp")), "/app": str(ROOT)}
        for volume in service.get("volumes", []):
            source, target = volume_parts(volume)
            found[target] = self._source(source)
        return dict(sorted(found.items(), key=lambda kv: -len(kv[0])))

    def _source(self, source: str) -> str:
        if not source.startswith("/"):
            return str(self._folder("volumes", source))
        path = self._sources.get(Path(source), Path(source))
        if not path.is_file():
            return str(path)
        copy = self._folder("mounted") / path.name
        copy.write_text(self.ports(path.read_text()))
        return str(copy)

    def _folder(self, *parts: str) -> Path:
        folder = self._run_dir.joinpath(*parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def text(self, value: str, mounts: dict[str, str]) -> str:
        """Ports moved, then every mount point replaced in one pass (longest first), so a
        replacement is never itself replaced again."""
        value = self.ports(value)
        targets = "|".join(map(re.escape, mounts))  # `mounts` is longest first
        return re.sub(rf"(?<![\w.-])({targets})(?=/|\b|$)", lambda m: mounts[m.group(1)], value)


def local_services(
    compose: dict[str, Any], run_dir: Path, ports: dict[str, str], sources: dict[Path, Path]
) -> list[LocalService]:
    translate = Translator(ports, run_dir, sources)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    found = []
    for name, service in compose["services"].items():
        mounts = translate.mounts(name, service)
        entrypoint = service.get("entrypoint") or IMAGE_ENTRYPOINTS.get(
            service.get("image", "").split(":")[0], []
        )
        argv = [translate.text(part.replace("$$", "$"), mounts) for part in entrypoint]
        argv += [translate.text(part, mounts) for part in service.get("command", [])]
        env = {k: translate.text(str(v), mounts) for k, v in service["environment"].items()}
        check = service.get("healthcheck", {}).get("test")
        health = None
        if check:
            parts = [translate.text(part, mounts) for part in check[1:]]
            health = ["sh", "-c", parts[0]] if check[0] == "CMD-SHELL" else parts
        depends = {dep: spec["condition"] for dep, spec in service.get("depends_on", {}).items()}
        found.append(
            LocalService(name, argv, env, health, depends, run_dir / "logs" / f"{name}.log")
        )
    return found


def programs(run_dir: Path) -> Path:
    """A bin folder with the images' programs under their names in the images."""
    bin_dir = run_dir / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in (
        ("livekit-server", LIVEKIT_SERVER.path),
        ("livekit-sip", LIVEKIT_SIP.path),
    ):
        link = bin_dir / name
        if not link.exists():
            link.symlink_to(target)
    # A wrapper, not a link: a link elsewhere would not find the venv's pyvenv.cfg.
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return bin_dir


@dataclass
class LocalCompose:
    services: dict[str, LocalService]
    ports: StackPorts
    run_dir: Path


@contextmanager
def run_locally(
    compose: dict[str, Any], run_dir: Path, *, sources: dict[Path, Path], timeout_s: float = 150
) -> Iterator[LocalCompose]:
    """Start every service in depends_on order, each once its conditions hold; stop all."""
    picked = pick_free_ports(1)
    services = local_services(compose, run_dir, port_map(picked), sources)
    path = f"{programs(run_dir)}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    started: list[LocalService] = []
    try:
        _start_in_order(services, started, run_dir, path, time.monotonic() + timeout_s)
        yield LocalCompose({s.name: s for s in services}, picked, run_dir)
    finally:
        for service in reversed(started):
            _stop(service)


def _start_in_order(
    services: list[LocalService],
    started: list[LocalService],
    run_dir: Path,
    path: str,
    deadline: float,
) -> None:
    state: dict[str, str] = {}  # name -> "started" | "healthy" | "completed"
    while len(state) < len(services) or any(v == "started" for v in state.values()):
        if time.monotonic() > deadline:
            waiting = [s.name for s in services if state.get(s.name) in (None, "started")]
            raise ComposeFailed(f"not up in time: {waiting}")
        for service in services:
            _advance(service, state, started, run_dir, path)
        time.sleep(0.5)


def _advance(
    service: LocalService,
    state: dict[str, str],
    started: list[LocalService],
    run_dir: Path,
    path: str,
) -> None:
    wanted = {"service_healthy": "healthy", "service_completed_successfully": "completed"}
    current = state.get(service.name)
    if current is None:
        if all(
            state.get(dep) == wanted.get(cond, "healthy") for dep, cond in service.depends.items()
        ):
            _start(service, run_dir, path)
            started.append(service)
            state[service.name] = "started"
        return
    if current != "started":
        return
    assert service.process is not None
    code = service.process.poll()
    if code is not None:
        if code == 0 and service.health is None:
            state[service.name] = "completed"
            return
        raise ComposeFailed(f"{service.name} exited with {code}:\n{service.log_tail()}")
    if service.health is not None and _healthy(service, path):
        state[service.name] = "healthy"


def _start(service: LocalService, run_dir: Path, path: str) -> None:
    home = run_dir / "containers" / service.name / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": path, "HOME": str(home), **IMAGE_ENV, **service.env}
    with service.logs.open("ab") as log:
        service.process = subprocess.Popen(
            service.argv,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _healthy(service: LocalService, path: str) -> bool:
    assert service.health is not None
    env = {"PATH": path, **IMAGE_ENV, **service.env}
    try:
        done = subprocess.run(service.health, env=env, cwd=ROOT, capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def _stop(service: LocalService, grace_s: float = 30.0) -> None:
    process = service.process
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def has_programs() -> list[str]:
    """The programs this needs that are missing here (empty: all present)."""
    missing = [p.name for p in (LIVEKIT_SERVER.path, LIVEKIT_SIP.path) if not p.is_file()]
    return missing + [
        name for name in ("redis-server", "redis-cli", "bash") if shutil.which(name) is None
    ]
