"""`start.py personas check|list`: the persona files in agents/, validated and shown."""

from __future__ import annotations

import typer
from rich.markup import escape

from dialroom.paths import AGENTS_DIR, PROMPTS_DIR
from dialroom.persona import check_all
from dialroom.persona_report import check_summary, persona_table
from stack.cli_common import AgentsDir, PromptsDir, console, err_console, fail

personas_app = typer.Typer(help="Check and list the personas in agents/.", no_args_is_help=True)


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
