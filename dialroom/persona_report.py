"""What `start.py personas check|list` prints: a summary line and a table of every persona."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from dialroom.persona import Persona, PersonaError


def check_summary(good: list[Persona], broken: list[PersonaError]) -> str:
    """One line (rich markup): which personas are fine, and how many are not."""
    names = ", ".join(p.name for p in good) or "none"
    total = len(good) + len(broken)
    if not broken:
        return f"[green]all {total} persona(s) fine:[/] {names}"
    return f"{len(good)} of {total} persona(s) fine: {names}; [red]{len(broken)} broken[/]"


def persona_table(good: list[Persona], broken: list[PersonaError]) -> Table:
    """Name, numbers, providers, prompt and declared variables of each persona; a broken one
    shows its error."""
    table = Table("name", "numbers", "stt", "llm", "tts", "prompt", "variables")
    if broken:
        table.add_column("problem")
    rows = [_cells(p) for p in good] + [_broken_cells(err) for err in broken]
    for cells in sorted(rows, key=lambda cells: str(cells[0])):
        table.add_row(*cells[: len(table.columns)])
    return table


def _cells(persona: Persona) -> list[str | Text]:
    llm = persona.llm.provider + (f" {persona.llm.model}" if persona.llm.model else "")
    return [
        persona.name,
        ", ".join(persona.numbers) or "-",
        persona.stt.provider,
        llm,
        persona.tts.provider,
        persona.prompt or "-",
        ", ".join(f"{{{name}}}" for name in persona.variables) or "-",
        "",
    ]


def _broken_cells(err: PersonaError) -> list[str | Text]:
    problem = f"{err.field}: {err.problem}" if err.field else err.problem
    return [Text(err.path.stem, style="red"), "", "", "", "", "", "", Text(problem, style="red")]
