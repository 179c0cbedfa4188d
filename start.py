"""Dialroom's one entry point: install the stack, run it, look at it.

python start.py install        # Redis, livekit-server, livekit-sip (built from Go), models
python start.py up --dev       # the whole stack on this machine, development keys
python start.py status         # what is running where, workers registered
"""

from __future__ import annotations

import typer

from sip.cli import sip_app
from stack.cli_calls import chat, check_call
from stack.cli_personas import personas_app
from stack.cli_stack import install, status, up

# The docstring above is `--help`. The commands live under stack/: the stack itself
# (`stack.cli_stack`), personas (`stack.cli_personas`), talking to and calling a persona
# (`stack.cli_calls`), SIP trunks (`sip.cli`); here they are put on one app, in the order
# `--help` lists them.
app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
app.command()(install)
app.command()(up)
app.command()(status)
app.add_typer(personas_app, name="personas")
app.add_typer(sip_app, name="sip")
app.command()(chat)
app.command("check-call")(check_call)


if __name__ == "__main__":
    app()
