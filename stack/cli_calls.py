"""`start.py chat` and `check-call`: talk to a persona in text, or call a running stack over
real SIP, each optionally checked against a scenario file.

The worker and the phone are imported inside the commands: they load the agent framework and
models, which `start.py --help` and the stack commands never need.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from dialroom.paths import AGENTS_DIR, PROMPTS_DIR
from stack.cli_common import AgentsDir, PromptsDir, console, err_console, fail, load_settings


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
