"""What every `start.py` command shares: its two consoles, its one way to fail (a red line
and exit 1), the stack's settings read once, and the persona folder options.

The commands live in `stack.cli_stack`, `stack.cli_personas` and `stack.cli_calls`; `start.py`
puts them on one Typer app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from dialroom.settings import describe_validation_error
from stack.settings import StackSettings

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


AgentsDir = Annotated[
    Path, typer.Option(help="Folder of persona YAML files.", exists=True, file_okay=False)
]
PromptsDir = Annotated[
    Path, typer.Option(help="Folder of prompt files.", exists=True, file_okay=False)
]
