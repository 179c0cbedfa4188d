"""What `sip apply` would change: desired views against the server's managed ones, by name.

Pure and synchronous, so the rules (create what is missing, update what differs field by
field, delete managed objects the file no longer names, never touch unmanaged ones) are
tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sip.objects import KINDS, SECRET_FIELDS, View

Action = Literal["create", "update", "delete"]


class ConflictError(Exception):
    """The file names an object that exists on the server but is not managed by this config."""


@dataclass(frozen=True)
class FieldDiff:
    field: str
    live: Any
    desired: Any

    def describe(self) -> str:
        if self.field in SECRET_FIELDS:
            return f"{self.field}: (secret changed)" if self.live else f"{self.field}: (secret set)"
        if self.live is None:  # a create: just what it will be
            return f"{self.field}: {_show(self.desired)}"
        return f"{self.field}: {_show(self.live)} → {_show(self.desired)}"


@dataclass(frozen=True)
class Change:
    action: Action
    kind: str
    name: str
    desired: View | None = None
    live: View | None = None
    diffs: tuple[FieldDiff, ...] = ()


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]

    @property
    def empty(self) -> bool:
        return not self.changes

    def summary(self, *, done: bool = False) -> str:
        """`1 to create, 0 to update, 2 to delete`, or once applied `1 created, ...`."""
        counts = {
            a: sum(c.action == a for c in self.changes) for a in ("create", "update", "delete")
        }
        return ", ".join(f"{n} {a}d" if done else f"{n} to {a}" for a, n in counts.items())


def make_plan(desired: list[View], live: list[View]) -> Plan:
    changes: list[Change] = []
    for kind in KINDS:
        want = {v.name: v for v in desired if v.kind == kind}
        have: dict[str, View] = {}
        for view in (v for v in live if v.kind == kind):
            if not view.managed:
                if view.name in want:
                    raise ConflictError(
                        f"a {kind} named `{view.name}` ({view.id}) already exists and is not "
                        "managed by this config: rename yours, or delete that one"
                    )
                continue
            if view.name in have or view.name not in want:
                changes.append(Change("delete", kind, view.name, live=view))
            else:
                have[view.name] = view
        for name, view in want.items():
            if name not in have:
                shown = field_diffs(View(kind, name, {}), view)
                changes.append(Change("create", kind, name, view, None, shown))
            elif diffs := field_diffs(have[name], view):
                changes.append(Change("update", kind, name, view, have[name], diffs))
    return Plan(tuple(changes))


def field_diffs(live: View, desired: View) -> tuple[FieldDiff, ...]:
    """Fields whose value differs; against an empty live view, every field that is set."""
    return tuple(
        FieldDiff(name, live.fields.get(name), value)
        for name, value in desired.fields.items()
        if live.fields.get(name) != value and (live.fields or value not in ("", 0, ()))
    )


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    if value in ("", 0, None):
        return "—"
    return str(value)
