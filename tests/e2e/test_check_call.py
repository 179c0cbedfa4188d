"""`start.py check-call` as a persona author runs it: a real SIP call from its phone to a real
stack, the scenario's words, tools and latency limits checked, the verdict in the exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dialroom.paths import ROOT
from tests.support.stack import RunningStack, start_stack

pytestmark = pytest.mark.e2e
SCENARIO = ROOT / "tests" / "scenarios" / "demo_books_tuesday.yaml"


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One worker is enough: the checks call one at a time."""
    running = start_stack(tmp_path_factory.mktemp("check-call"), num_agents=1)
    yield running
    running.stop()


def check_call(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, str(ROOT / "start.py"), "check-call", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_scenario_passes_over_a_real_call_with_its_tools_read_from_the_record(
    demo_stack: RunningStack, tmp_path: Path
) -> None:
    done = check_call(
        str(SCENARIO), "--to", demo_stack.state.sip_uri, "--run-dir", str(demo_stack.run_dir)
    )
    out = done.stdout
    assert done.returncode == 0, f"{out}\n{done.stderr}"
    assert "greeting" in out and "I would like to come in on Tuesday" in out
    assert "✓ tuesday" in out and "✓ goodbye" in out and "✗" not in out
    assert "end_call (want end_call)" in out  # tools read from the stack's call record
    assert "voice to voice p95:" in out
    assert "passed demo" in out


def test_an_impossible_latency_limit_fails_the_check_and_names_the_limit(
    demo_stack: RunningStack, tmp_path: Path
) -> None:
    scenario = yaml.safe_load(SCENARIO.read_text())
    scenario["max_greeting_s"] = 0.01
    # no comma: a pause there can end the caller's turn early (see the scenario file notes)
    scenario["turns"][0]["say"] = "I would like to come in on Tuesday."
    path = tmp_path / "too_fast.yaml"
    path.write_text(yaml.safe_dump(scenario))
    # an empty run directory: the call goes to an address no local stack owns
    done = check_call(str(path), "--to", demo_stack.state.sip_uri, "--run-dir", str(tmp_path))
    assert done.returncode == 1, f"{done.stdout}\n{done.stderr}"
    assert "max_greeting_s: the greeting took" in done.stderr
    assert "(limit 0.01s)" in done.stderr
    assert "not checked" in done.stdout  # no stack's API to read the tools from
    assert "✓ tuesday" in done.stdout  # the rest of the scenario still passed
