"""`start.py install`, `up` and `status`: the local stack, installed, run and looked at.

Thin commands over `stack.install`, `stack.run` and `stack.state`; what is checked here is
only what must stop `up` before anything starts (settings, keys, busy ports), each with one
red line.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from api.settings import ApiSettings
from dialroom.settings import (
    DEV_API_KEY,
    DEV_API_SECRET,
    DEV_DIALROOM_API_KEY,
    SettingsError,
    describe_validation_error,
)
from stack.cli_common import console, fail, load_settings
from stack.health import describe
from stack.install import InstallError, ensure_installed
from stack.nodes import MAX_NODES, busy_node_ports, layout_nodes, pick_free_nodes
from stack.plan import StackPlan
from stack.ports import NodePorts, StackPorts, busy_ports, pick_free_ports
from stack.run import run_stack
from stack.settings import StackSettings
from stack.state import ServiceState, StackState, read_state
from stack.supervisor import StartError


def install(
    test_tools: Annotated[
        bool, typer.Option(help="Also install what only the test suite uses (sox, docker-compose).")
    ] = False,
) -> None:
    """Install what the local stack needs; quick and quiet when everything is there.

    Debian packages (redis-server and the C libraries of livekit-sip), then livekit-server and
    livekit-sip built from their Go modules into ~/.cache/dialroom (minutes, the first time),
    then a check of the offline speech models.
    """
    started = time.monotonic()
    try:
        with console.status("checking") as spinner:
            done = ensure_installed(lambda text: spinner.update(text), test_tools=test_tools)
    except InstallError as err:
        raise fail(str(err)) from err
    took = time.monotonic() - started
    if done:
        console.print(f"[green]installed[/] in {took:.0f}s: " + "; ".join(done))
    else:
        console.print(f"[green]everything already installed[/] (checked in {took:.1f}s)")


def up(
    dev: Annotated[
        bool, typer.Option(help="Use development API keys (printed; never in production).")
    ] = False,
    num_agents: Annotated[
        int | None,
        typer.Option(min=0, max=32, help="Worker processes (default: NUM_AGENTS; 0: none)."),
    ] = None,
    persona: Annotated[str | None, typer.Option(help="Persona for calls to the dev trunk.")] = None,
    auto_ports: Annotated[
        bool, typer.Option(help="Pick free loopback ports (tests use this).")
    ] = False,
    run_dir: Annotated[
        Path | None, typer.Option(help="Logs, configs and state (default .run/).")
    ] = None,
    compose: Annotated[
        bool, typer.Option(help="Run with `docker compose` instead of processes.")
    ] = False,
    nodes: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_NODES,
            help="LiveKit nodes (livekit-server + livekit-sip, an API and a dispatcher each) "
            "on 127.0.0.2, 127.0.0.3, ...; 1: everything on 127.0.0.1.",
        ),
    ] = 1,
) -> None:
    """Start Dialroom's Redis, LiveKit's Redis, livekit-server, livekit-sip, the API, the
    dispatcher and NUM_AGENTS workers, then wait.

    Each part is started in order and waited on until healthy; a development SIP trunk is
    provisioned so a softphone can call the printed address. A part that crashes later is
    started again (after 1 s, then up to a minute while it keeps crashing), and the stack runs
    on. Ctrl-C or SIGTERM stops everything in reverse order.
    """
    if compose:
        raise typer.Exit(run_compose())
    settings = load_settings()
    api_key, api_secret = _keys(settings, dev)
    _check_api_settings(dev)
    _check_redis_password(settings, dev)
    workers = num_agents if num_agents is not None else settings.num_agents
    ports = pick_free_ports(workers) if auto_ports else settings.ports()
    if busy := busy_ports(ports, workers):
        names = ", ".join(f"{name} {port}" for name, port in busy.items())
        raise fail(
            f"port(s) already in use: {names}; stop what uses them, "
            "change the ports in .env, or pass --auto-ports"
        )
    cluster = plan_nodes(ports, nodes, auto_ports=auto_ports)
    try:
        ensure_installed(lambda text: None)
    except InstallError as err:
        raise fail(str(err)) from err
    plan = StackPlan(
        ports=ports,
        num_agents=workers,
        api_key=api_key,
        api_secret=api_secret,
        run_dir=(run_dir or settings.run_dir).resolve(),
        agent_name=settings.agent_name,
        dev_mode=dev,
        dev_outbound_address=settings.sip_dev_outbound_address,
        worker_drain_s=settings.worker_drain_s,
        redis_password=settings.redis_password,
        nodes=cluster,
    )
    try:
        with console.status("starting") as spinner:
            code = run_stack(
                plan,
                persona=persona or settings.default_persona,
                dev_keys=dev,
                status=lambda text: spinner.update(text),
                announce=lambda state: (spinner.stop(), announce(state)),
                log=supervision_log,
            )
    except (StartError, OSError) as err:
        raise fail(str(err)) from err
    console.print("stopped; every process of the stack has exited")
    raise typer.Exit(code)


def status(
    run_dir: Annotated[Path | None, typer.Option(help="The run directory of `up`.")] = None,
) -> None:
    """Show what `up` is running: each process, its address, and its health as it reports it
    (a worker: whether livekit-server registered it); restarts and crashed parts waiting."""
    settings = load_settings()
    state = read_state((run_dir or settings.run_dir).resolve())
    if state is None:
        raise fail("no stack is running (start one with `python start.py up --dev`)")
    table = Table("service", "pid", "address", "health", "restarts")
    for service in state.services:
        table.add_row(
            service.name,
            str(service.pid),
            service.address,
            _health(service),
            str(service.restarts),
        )
    console.print(table)
    console.print(f"call: [bold]{state.sip_uri}[/]")


def supervision_log(text: str) -> None:
    """What the running stack reports (a crash, a restart), one timestamped line each."""
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {escape(text)}", soft_wrap=True)


def announce(state: StackState) -> None:
    table = Table("service", "pid", "address", title="Dialroom is running")
    for service in state.services:
        table.add_row(service.name, str(service.pid), service.address)
    console.print(table)
    if state.dev_keys:
        console.print(
            f"[yellow]DEVELOPMENT KEYS[/] {DEV_API_KEY} / {DEV_API_SECRET}, "
            f"API key {DEV_DIALROOM_API_KEY}: "
            "for this machine only, never expose this stack"
        )
    console.print(f"Call the demo persona from a softphone: [bold]{state.sip_uri}[/]")
    console.print("Ctrl-C stops everything.", style="dim")


def plan_nodes(ports: StackPorts, count: int, *, auto_ports: bool) -> tuple[NodePorts, ...]:
    """No nodes for one (the stack on 127.0.0.1); else each node's address and ports."""
    if count == 1:
        return ()
    cluster = pick_free_nodes(ports, count) if auto_ports else layout_nodes(ports, count)
    if busy := busy_node_ports(cluster):
        names = ", ".join(f"{name} {port}" for name, port in busy.items())
        raise fail(f"node port(s) already in use: {names}; stop what uses them or --auto-ports")
    return cluster


def _check_api_settings(dev: bool) -> None:
    """The API's settings, checked before anything starts: API_KEYS is required without --dev."""
    try:
        settings = ApiSettings(dialroom_dev=True) if dev else ApiSettings()
        settings.require_api_keys()
    except ValidationError as err:
        raise fail(f"bad setting: {describe_validation_error(err)}") from err
    except SettingsError as err:
        raise fail(str(err)) from err


def _keys(settings: StackSettings, dev: bool) -> tuple[str, str]:
    if settings.livekit_api_key and settings.livekit_api_secret:
        return settings.livekit_api_key, settings.livekit_api_secret
    if dev:
        return DEV_API_KEY, DEV_API_SECRET
    try:
        settings.require_livekit_keys()
    except SettingsError as err:
        raise fail(str(err)) from err
    raise AssertionError("unreachable")


def _check_redis_password(settings: StackSettings, dev: bool) -> None:
    """Outside --dev, the Redis that `up` starts has a password (REDIS_PASSWORD)."""
    if dev:
        return
    try:
        settings.require_redis_password()
    except SettingsError as err:
        raise fail(str(err)) from err


def _health(service: ServiceState) -> str:
    if service.next_start_at is not None:
        wait = max(0.0, service.next_start_at - time.time())
        return f"[red]crashed[/] (code {service.last_exit}), starting again in {wait:.0f}s"
    if service.health is None:
        return ""
    described = describe(service.health, service.pid)
    good = described == "healthy" or described.startswith("registered")
    return described if good else f"[yellow]{described}[/]"


def run_compose() -> int:
    """`docker compose up` where a Docker engine exists; a clear line where none does."""
    docker = shutil.which("docker")
    if docker is None:
        raise fail("docker is not installed; run `python start.py up --dev` for local processes")
    probe = subprocess.run([docker, "info"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise fail(
            "no Docker engine is running here (`docker info` failed); "
            "run `python start.py up --dev` to start the stack as local processes"
        )
    return subprocess.call([docker, "compose", "up", "--build"])
