"""Scenario files: a persona, what the caller says, what the caller should hear, what the
agent should do, and how fast it should answer.

The same file runs in text mode (`start.py chat --scenario`, `callcheck.text_run`), over a
real call in the test suite, and over a real call to any stack (`start.py check-call`). A
persona is looked up in the `agents/` folder beside the scenario file, then in `agents/`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from callcheck.phone_result import CallResult
from dialroom.paths import AGENTS_DIR


class ScenarioError(Exception):
    """A scenario file that cannot be used, or a call that could not be made, with why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Turn(_Strict):
    say: str = Field(min_length=1, description="what the caller says")
    heard: tuple[str, ...] = Field(default=(), description="words the reply must contain")
    tools: tuple[str, ...] | None = Field(
        default=None, description="exactly these tool calls, in order ([] = none); unset: any"
    )


class Scenario(_Strict):
    persona: str
    about: str = ""
    greeting: tuple[str, ...] = Field(default=(), description="words the greeting contains")
    turns: tuple[Turn, ...] = Field(min_length=1)
    heard: tuple[str, ...] = Field(default=(), description="words heard anywhere")
    tools: tuple[str, ...] = Field(default=(), description="tools called somewhere")
    hangs_up: bool | None = Field(
        default=None,
        description="true: the agent ends the call after the last line (not "
        "before); false: it never does; unset: not checked",
    )
    mocks: dict[str, str] | None = Field(
        default=None, description="text mode: canned tool answers ({} = the default answer)"
    )
    max_greeting_s: float | None = Field(
        default=None, gt=0, description="a call: media up -> the greeting's first audio, at most"
    )
    max_voice_to_voice_p95_s: float | None = Field(
        default=None,
        gt=0,
        description="a call: caller's line ends -> the reply's first audio, 95th percentile",
    )


@dataclass
class Outcome:
    """What happened in one run; `tools` is None where tool calls cannot be seen."""

    greeting: str
    replies: list[str] = field(default_factory=list)  # one per caller line actually said
    tools: list[tuple[str, ...]] | None = None
    hung_up: bool = False
    heard: str = ""  # everything the agent said, as one text
    call: CallResult | None = None
    record: dict[str, Any] | None = None  # the worker's call record (JSON), for a real call


def load_scenario(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text())
        return Scenario.model_validate(data)
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read it ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise ScenarioError(f"{path.name}: not valid YAML ({err})") from err
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ScenarioError(f"{path.name}: {where}: {first['msg']}") from err


def agents_dir_near(scenario_path: Path, persona: str) -> Path:
    """The `agents/` folder beside the scenario file when it holds `persona`, else agents/."""
    beside = scenario_path.resolve().parent / "agents"
    return beside if (beside / f"{persona}.yaml").is_file() else AGENTS_DIR


def words(text: str) -> str:
    """Lower case, punctuation gone, single spaces: what expected words are matched in."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def missing_words(expected: Sequence[str], text: str) -> list[str]:
    said = f" {words(text)} "
    return [w for w in expected if f" {words(w)} " not in said]


def check(scenario: Scenario, outcome: Outcome) -> list[str]:
    """Every way `outcome` falls short of `scenario`, one sentence each; [] when it passes."""
    problems: list[str] = []
    if missing := missing_words(scenario.greeting, outcome.greeting):
        problems.append(f"greeting lacks {missing}: {outcome.greeting!r}")
    for i, turn in enumerate(scenario.turns):
        if i >= len(outcome.replies):
            problems.append(f"the call ended before line {i + 1} ({turn.say!r})")
            break
        reply = outcome.replies[i]
        if missing := missing_words(turn.heard, reply):
            problems.append(f"reply to line {i + 1} lacks {missing}: {reply!r}")
        if outcome.tools is not None and turn.tools is not None:
            if outcome.tools[i] != turn.tools:
                problems.append(
                    f"line {i + 1}: tools {list(outcome.tools[i])}, expected {list(turn.tools)}"
                )
    if missing := missing_words(scenario.heard, outcome.heard):
        problems.append(f"never heard {missing}: {outcome.heard!r}")
    if outcome.tools is not None:
        called = {name for names in outcome.tools for name in names}
        if missing_tools := [t for t in scenario.tools if t not in called]:
            problems.append(f"never called {missing_tools} (called: {sorted(called)})")
    if scenario.hangs_up is not None and outcome.hung_up != scenario.hangs_up:
        problems.append("the agent did not hang up" if scenario.hangs_up else "the agent hung up")
    return problems
