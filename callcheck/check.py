"""`start.py check-call`: one scenario file over a real SIP call to a running stack, with its
words, tools and latency limits checked, for a persona repository's CI.

Where to call: `--to` any SIP URI, else the stack `start.py up` runs (its state file in the
run directory): the persona's first number at the stack's SIP address, or the stack's own
line (the default persona) for a persona with no number. Tool calls are read from the call
record through the API only when the call went to that local stack; elsewhere they are "not
checked".
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from callcheck.call import caller_number, place_call, transcribe_call
from callcheck.latency import measure, over_limits
from callcheck.record import fetch_record, tool_calls_by_line
from callcheck.report import CheckResult, print_result
from callcheck.scenario import Scenario, ScenarioError, agents_dir_near, check, load_scenario
from callcheck.settings import CheckCallSettings
from dialroom.persona import PersonaError, load_persona
from dialroom.settings import DEV_DIALROOM_API_KEY
from stack.state import StackState, read_state


@dataclass(frozen=True)
class Target:
    uri: str
    api_url: str | None  # the local stack's API, where the call record can be read
    api_key: str


def sip_address(uri: str) -> str:
    """`host:port` of a SIP URI (`sip:1000@127.0.0.1:5060;transport=udp` -> `127.0.0.1:5060`)."""
    return uri.split("@", 1)[-1].split(";", 1)[0].removeprefix("sip:")


def persona_uri(stack_uri: str, scenario: Scenario, scenario_path: Path) -> str:
    """The stack's address for the scenario's persona: its first number, else the stack's
    line (which reaches the default persona)."""
    agents_dir = agents_dir_near(scenario_path, scenario.persona)
    try:
        numbers = load_persona(scenario.persona, agents_dir=agents_dir).numbers
    except PersonaError:
        return stack_uri
    if not numbers:
        return stack_uri
    return f"sip:{numbers[0]}@{sip_address(stack_uri)}"


def resolve_target(
    scenario: Scenario, scenario_path: Path, to: str | None, state: StackState | None
) -> Target:
    settings = CheckCallSettings()
    if to is None and state is None:
        raise ScenarioError(
            "no stack is running here (start one with `python start.py up --dev`) "
            "and no --to SIP URI was given"
        )
    local = state is not None and (to is None or sip_address(to) == sip_address(state.sip_uri))
    if state is None or not local:
        assert to is not None
        return Target(uri=to, api_url=None, api_key="")
    key = settings.check_call_api_key or (DEV_DIALROOM_API_KEY if state.dev_keys else "")
    if not key:
        raise ScenarioError("set CHECK_CALL_API_KEY (one of the stack's API_KEYS) to read tools")
    uri = to or persona_uri(state.sip_uri, scenario, scenario_path)
    return Target(uri=uri, api_url=state.api_url, api_key=key)


def run_check(scenario: Scenario, target: Target, work_dir: Path) -> CheckResult:
    """Call, transcribe, measure, read the record where one can be read; every problem found."""
    caller = caller_number()
    call = place_call(scenario, target.uri, work_dir, caller=caller)
    outcome = transcribe_call(call)
    timings = measure(call)
    problems: list[str] = []
    if target.api_url is not None:
        outcome.record = fetch_record(target.api_url, target.api_key, caller)
        outcome.tools = tool_calls_by_line(outcome.record, [p.started_at for p in call.plays])
        if (persona := outcome.record.get("persona")) != scenario.persona:
            problems.append(f"the call reached persona {persona!r}, not {scenario.persona!r}")
    problems += check(scenario, outcome) + over_limits(scenario, timings)
    return CheckResult(
        scenario=scenario,
        outcome=outcome,
        timings=timings,
        problems=problems,
        uri=target.uri,
        tools_checked=target.api_url is not None,
    )


def check_call(
    path: Path,
    *,
    to: str | None,
    run_dir: Path,
    keep: Path | None,
    out: Console,
    err: Console,
) -> int:
    """The whole command: the exit code (0 passed, 1 failed); a ScenarioError for a file or
    call that could not be used."""
    scenario = load_scenario(path)
    target = resolve_target(scenario, path, to, read_state(run_dir))
    with out.status(f"calling {target.uri}"):
        if keep is not None:
            result = run_check(scenario, target, keep)
        else:
            with tempfile.TemporaryDirectory(prefix="check-call-") as work:
                result = run_check(scenario, target, Path(work))
    return print_result(result, out, err)
