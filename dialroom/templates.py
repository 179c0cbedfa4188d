"""`{variables}` in text that reaches a call: greetings, prompts, flow `say` steps, voicemail
messages, and the API's `greeting` and `llm_prompt`.

Much of this text comes from outside (an API client, a campaign's CSV, a SIP header), so it is
data: the only thing ever done to it is replacing `{name}`, where `name` is an identifier
(`[A-Za-z_][A-Za-z0-9_]*`) of a variable the call has, by that variable's value. Python's
`str.format` would also evaluate format specs (`{x:>99999999}` allocates gigabytes), attribute
and index access (`{a.__class__}`, `{a[0]}`) and raise on a stray brace, after the phone has
rung. Here nothing raises and nothing else is interpreted:

- `{name}` of a known variable -> its value; values are inserted as they are, never filled again.
- `{{` -> `{` and `}}` -> `}`, as in `str.format`, so persona files written for it read the same
  and `{{name}}` is a way to write a literal `{name}`.
- everything else (an unknown name, `{x:>5}`, `{a.b}`, `{a[0]}`, `{ }`, a lone `{` or `}`)
  stays exactly as written.

The output is at most the template's length plus, per `{name}` replaced, the length of its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKEN = re.compile(r"\{\{|\}\}|\{(" + IDENTIFIER.pattern + r")\}")
_STRAY = re.compile(r"\{[^{}\0]*\}?|\}")  # \0 stands where a _TOKEN was


def fill(template: str, variables: Mapping[str, str]) -> str:
    """`template` with each `{name}` of `variables` replaced by its value (see the module)."""

    def replace(match: re.Match[str]) -> str:
        token, name = match.group(0), match.group(1)
        if name is None:
            return token[0]  # `{{` or `}}`
        try:
            return str(variables[name])
        except KeyError:
            return token

    return _TOKEN.sub(replace, template)


def names(template: str) -> set[str]:
    """The names of the `{name}` placeholders `template` uses (escaped `{{name}}` is none)."""
    return {match.group(1) for match in _TOKEN.finditer(template) if match.group(1)}


def unfilled(template: str) -> list[str]:
    """The brace groups `fill` leaves as written, in order: `{x:>5}`, `{a.b}`, a lone `{`..."""
    return _STRAY.findall(_TOKEN.sub("\0", template))


def is_identifier(name: str) -> bool:
    """A name a template can refer to as `{name}`."""
    return IDENTIFIER.fullmatch(name) is not None
