"""`python start.py sip plan|apply|status`: the telephony file against the LiveKit server.

Thin Typer commands over sip.apply; connection settings are the shared LIVEKIT_URL,
LIVEKIT_API_KEY and LIVEKIT_API_SECRET (`--dev`: the development keys of `start.py up --dev`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from livekit import api
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dialroom.settings import (
    DEV_API_KEY,
    DEV_API_SECRET,
    CommonSettings,
    SettingsError,
    describe_validation_error,
)
from sip.apply import apply_plan, plan_for
from sip.objects import View, live_views
from sip.plan import Change, ConflictError, Plan
from sip.secrets import SecretsError
from sip.spec import TELEPHONY_FILE, SpecError

T = TypeVar("T")
sip_app = typer.Typer(
    help="Trunks and dispatch rules from sip/telephony.yaml: plan, apply, status.",
    no_args_is_help=True,
)
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
ConfigFile = Annotated[Path, typer.Option("--file", "-f", help="The telephony YAML file.")]
Dev = Annotated[
    bool, typer.Option(help="Use the development keys of `start.py up --dev` when none are set.")
]
_COLOURS = {"create": "green", "update": "yellow", "delete": "red"}


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # one line
    return typer.Exit(1)


def _settings(dev: bool) -> CommonSettings:
    try:
        settings = CommonSettings()
        if dev and not (settings.livekit_api_key and settings.livekit_api_secret):
            return settings.model_copy(
                update={"livekit_api_key": DEV_API_KEY, "livekit_api_secret": DEV_API_SECRET}
            )
        settings.require_livekit_keys()
    except ValidationError as err:
        raise _fail(f"bad setting: {describe_validation_error(err)}") from err
    except SettingsError as err:
        raise _fail(str(err)) from err
    return settings


def _run(settings: CommonSettings, work: Callable[[api.LiveKitAPI], Awaitable[T]]) -> T:
    """Run `work` against the server; every failure becomes one red line and exit 1."""

    async def session() -> T:
        url = settings.livekit_url.replace("ws://", "http://").replace("wss://", "https://")
        async with api.LiveKitAPI(
            url=url, api_key=settings.livekit_api_key, api_secret=settings.livekit_api_secret
        ) as lk:
            return await work(lk)

    try:
        return asyncio.run(session())
    except (SpecError, SecretsError, ConflictError) as err:
        raise _fail(str(err)) from err
    except api.TwirpError as err:
        raise _fail(f"livekit-server refused: {err.code}: {err.message}") from err
    except (OSError, TimeoutError) as err:
        raise _fail(f"cannot reach livekit-server at {settings.livekit_url} ({err})") from err


@sip_app.command("plan")
def plan(file: ConfigFile = TELEPHONY_FILE, dev: Dev = False) -> None:
    """Show what `sip apply` would create, update or delete on the server, field by field."""
    settings = _settings(dev)
    found, _ = _run(settings, lambda lk: _plan(lk, file, settings))
    _print_plan(found, file)


@sip_app.command("apply")
def apply(file: ConfigFile = TELEPHONY_FILE, dev: Dev = False) -> None:
    """Create, update and delete trunks and dispatch rules until the server matches the file.

    Only objects this file manages are touched (the dev trunk of `start.py up --dev` is left
    alone); a second run with the same file reports no changes.
    """
    settings = _settings(dev)

    async def work(lk: api.LiveKitAPI) -> Plan:
        found, live = await _plan(lk, file, settings)
        await apply_plan(lk, found, live, _report)
        return found

    done = _run(settings, work)
    if done.empty:
        console.print(f"[green]no changes[/]: the server already matches {file.name}")
    else:
        console.print(f"[green]applied[/]: {done.summary(done=True)}")


@sip_app.command("status")
def status(dev: Dev = False) -> None:
    """List the SIP trunks and dispatch rules live on the server, and which ones are managed."""
    views = _run(_settings(dev), live_views)
    table = Table("kind", "name", "id", "managed", "details")
    for view in views:
        managed = "[green]yes[/]" if view.managed else "[dim]no[/]"
        table.add_row(view.kind, view.name, view.id, managed, escape(_details(view)))
    console.print(table if views else "no SIP trunks or dispatch rules on the server")


async def _plan(
    lk: api.LiveKitAPI, file: Path, settings: CommonSettings
) -> tuple[Plan, list[View]]:
    return await plan_for(lk, file, agents_dir=settings.agents_dir, agent_name=settings.agent_name)


def _print_plan(found: Plan, file: Path) -> None:
    if found.empty:
        console.print(f"[green]no changes[/]: the server already matches {file.name}")
        return
    table = Table("action", "kind", "name", "changes", title=f"sip plan: {file.name}")
    for change in found.changes:
        colour = _COLOURS[change.action]
        lines = "\n".join(d.describe() for d in change.diffs)
        table.add_row(f"[{colour}]{change.action}[/]", change.kind, change.name, escape(lines))
    console.print(table)
    console.print(f"{found.summary()}; run `python start.py sip apply` to make them")


def _report(change: Change) -> None:
    colour = _COLOURS[change.action]
    console.print(f"[{colour}]{change.action}d[/] {change.kind} {change.name}")


def _srtp(fields: dict[str, object]) -> str:
    """`, SRTP allow|require` for a trunk whose media may be encrypted; nothing by default."""
    value = fields.get("media_encryption", "disable")
    return "" if value == "disable" else f", SRTP {value}"


def _details(view: View) -> str:
    f = view.fields
    if view.kind == "inbound trunk":
        numbers = ", ".join(f["numbers"]) or "any number"
        sources = ", ".join(f["allowed_addresses"]) or "any address"
        auth = f" auth {f['auth_username']}" if f["auth_username"] else ""
        return f"{numbers} from {sources}{auth}{_srtp(f)}"
    if view.kind == "outbound trunk":
        return f"{f['address']} ({f['transport']}) as {', '.join(f['numbers'])}{_srtp(f)}"
    persona = f["default_persona"] or "none (not in service)"
    return f"{', '.join(f['trunks'])} → rooms {f['room_prefix']}…, default persona {persona}"
