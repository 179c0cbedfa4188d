"""Dialroom's one entry point: install the stack, run it, look at it.

python start.py install        # Redis, livekit-server, livekit-sip (built from Go), models
python start.py up --dev       # the whole stack on this machine, development keys
python start.py status         # what is running where, workers registered
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api.settings import ApiSettings
from dialroom.paths import AGENTS_DIR, PROMPTS_DIR
from dialroom.persona import check_all
from dialroom.persona_report import check_summary, persona_table
from dialroom.settings import (
    DEV_API_KEY,
    DEV_API_SECRET,
    DEV_DIALROOM_API_KEY,
    SettingsError,
    describe_validation_error,
)
from sip.cli import sip_app
from stack.health import describe
from stack.install import InstallError, ensure_installed
from stack.nodes import MAX_NODES, busy_node_ports, layout_nodes, pick_free_nodes
from stack.ports import NodePorts, StackPorts, busy_ports, pick_free_ports
from stack.run import run_stack
from stack.services import StackPlan
from stack.settings import StackSettings
from stack.state import ServiceState, StackState, read_state
from stack.supervisor import StartError

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


def load_settings() -> StackSettings:
    try:
        return StackSettings()
    except ValidationError as err:
        raise fail(f"bad setting: {describe_validation_error(err)}") from err


@app.command()
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


@app.command()
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


@app.command()
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


personas_app = typer.Typer(help="Check and list the personas in agents/.", no_args_is_help=True)
app.add_typer(personas_app, name="personas")
app.add_typer(sip_app, name="sip")
AgentsDir = Annotated[
    Path, typer.Option(help="Folder of persona YAML files.", exists=True, file_okay=False)
]
PromptsDir = Annotated[
    Path, typer.Option(help="Folder of prompt files.", exists=True, file_okay=False)
]


@personas_app.command("check")
def personas_check(
    agents_dir: AgentsDir = AGENTS_DIR, prompts_dir: PromptsDir = PROMPTS_DIR
) -> None:
    """Validate every persona file; one red line per broken one, exit 1 if any is broken."""
    good, broken = check_all(agents_dir=agents_dir, prompts_dir=prompts_dir)
    if not good and not broken:
        raise fail(f"no persona files (*.yaml) in {agents_dir}")
    for err in broken:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)  # one line
    console.print(check_summary(good, broken), soft_wrap=True)
    if broken:
        raise typer.Exit(1)


@personas_app.command("list")
def personas_list(
    agents_dir: AgentsDir = AGENTS_DIR, prompts_dir: PromptsDir = PROMPTS_DIR
) -> None:
    """Show each persona: numbers, speech and LLM providers, prompt file; broken ones with why."""
    good, broken = check_all(agents_dir=agents_dir, prompts_dir=prompts_dir)
    console.print(persona_table(good, broken))


@app.command()
def chat(
    persona: Annotated[
        str | None, typer.Argument(help="Persona to talk to (a file in agents/).")
    ] = None,
    mock_tools: Annotated[
        bool,
        typer.Option(
            "--mock-tools",
            help="Replace every tool but end_call (HTTP tools, transfer, keypad) with a canned "
            "answer, so nothing outside is called.",
        ),
    ] = False,
    scenario: Annotated[
        Path | None,
        typer.Option(
            help="Instead of chatting, run this scenario file (tests/scenarios/) in text mode "
            "and say whether it passes.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    agents_dir: AgentsDir = AGENTS_DIR,
    prompts_dir: PromptsDir = PROMPTS_DIR,
) -> None:
    """Talk to a persona in the terminal: you type what the caller says, it answers in text.

    The persona runs in its real agent session with its real LLM, prompt, greeting and tools,
    only without audio. A `flow` persona works offline; an OpenAI one needs its keys (one line
    says which). It greets you first, then answers each line; tool calls show dimmed. Type
    /quit or press Ctrl-D to leave; the chat also ends when the agent hangs up.

    Examples: `python start.py chat demo`, `python start.py chat receptionist --mock-tools`,
    `python start.py chat --scenario tests/scenarios/demo_books_tuesday.yaml`.
    """
    import asyncio

    from dialroom.persona import PersonaError
    from worker.chat import ChatError, chat_loop
    from worker.providers import ProviderConfigError

    try:
        if scenario is not None:
            raise typer.Exit(_run_scenario(scenario))
        if persona is None:
            raise fail("name a persona (e.g. `python start.py chat demo`) or pass --scenario")
        mocks = {} if mock_tools else None
        asyncio.run(
            chat_loop(persona, console, mocks=mocks, agents_dir=agents_dir, prompts_dir=prompts_dir)
        )
    except (PersonaError, ProviderConfigError, ChatError) as err:
        raise fail(escape(str(err))) from err
    except KeyboardInterrupt:
        console.print()


def _run_scenario(path: Path) -> int:
    """A scenario in text mode: each line and reply, then what failed (exit 1) or `passed`."""
    import asyncio

    from callcheck.scenario import ScenarioError, agents_dir_near, check, load_scenario
    from callcheck.text_run import run_text

    try:
        scenario = load_scenario(path)
    except ScenarioError as err:
        raise fail(escape(str(err))) from err
    agents_dir = agents_dir_near(path, scenario.persona)
    outcome = asyncio.run(run_text(scenario, agents_dir=agents_dir))
    console.print(f"[bold cyan]{scenario.persona}:[/] {escape(outcome.greeting)}")
    tools_per_turn = outcome.tools or []
    for turn, reply, tools in zip(scenario.turns, outcome.replies, tools_per_turn, strict=False):
        console.print(f"[bold]caller:[/] {escape(turn.say)}")
        if tools:
            console.print(f"  ⚙ {', '.join(tools)}", style="dim")
        console.print(f"[bold cyan]{scenario.persona}:[/] {escape(reply)}")
    problems = check(scenario, outcome)
    for problem in problems:
        err_console.print(f"[bold red]failed:[/] {escape(problem)}", soft_wrap=True)
    if not problems:
        console.print(f"[green]passed[/] {path.name}")
    return 1 if problems else 0


@app.command("check-call")
def check_call(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario file (YAML).", exists=True, dir_okay=False)
    ],
    to: Annotated[
        str | None,
        typer.Option(help="SIP URI to call (default: the stack `up` runs, the persona's number)."),
    ] = None,
    run_dir: Annotated[Path | None, typer.Option(help="The run directory of `up`.")] = None,
    keep: Annotated[
        Path | None, typer.Option(help="Keep the call's audio and phone log in this folder.")
    ] = None,
) -> None:
    """Call a running stack over real SIP with a scenario file and check what comes back.

    The phone says each `turns[].say` line (spoken by the local piper voice) once the agent
    has finished talking, records the agent, and transcribes it with the local Whisper. It
    checks the words the greeting and each reply must hold (`greeting`, `turns[].heard`,
    `heard`), the tools called (`turns[].tools`, `tools`: read from the call record through
    the API of a stack `up` runs here; over another `--to` address they are "not checked"),
    whether the agent hangs up (`hangs_up`), and the latency limits measured at the phone:
    `max_greeting_s` (media up -> first audio) and `max_voice_to_voice_p95_s` (end of each
    caller line -> first audio of the reply). One table row a turn; exit 1 on any failure.

    A scenario file (the format of tests/scenarios/*.yaml), e.g.:
    persona: demo | greeting: [which day] | max_greeting_s: 2.0 |
    max_voice_to_voice_p95_s: 2.5 | turns: [{say: "Tuesday, please.", heard: [tuesday],
    tools: [end_call]}] | hangs_up: true

    Examples: `python start.py check-call tests/scenarios/demo_books_tuesday.yaml`,
    `python start.py check-call my.yaml --to sip:+14155550123@sip.example.com`.
    CHECK_CALL_API_KEY: an API key for a stack not started with --dev.
    """
    from callcheck.check import check_call as run_check_call
    from callcheck.scenario import ScenarioError

    settings = load_settings()
    try:
        code = run_check_call(
            scenario,
            to=to,
            run_dir=(run_dir or settings.run_dir).resolve(),
            keep=keep.resolve() if keep else None,
            out=console,
            err=err_console,
        )
    except ScenarioError as err:
        raise fail(escape(str(err))) from err
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
