"""Every scenario file over a real SIP call: the phone says each caller line (rendered by
piper), records the agent, and Whisper's transcript of each reply must hold the words the
scenario expects; tool calls are checked against the worker's call record."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from callcheck.scenario import check, load_scenario
from dialroom.paths import AGENTS_DIR
from tests.support.scenarios import (
    DEFAULT_PERSONA,
    TEST_AGENTS_DIR,
    run_call,
    run_text,
    scenario_files,
)
from tests.support.stack import RunningStack, start_stack

pytestmark = pytest.mark.e2e
SCENARIOS = scenario_files()


@pytest.fixture(scope="module")
def scenario_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One stack that reaches every scenario persona: the shipped ones and the test ones."""
    agents = tmp_path_factory.mktemp("agents")
    for folder in (AGENTS_DIR, TEST_AGENTS_DIR):
        for persona in folder.glob("*.yaml"):
            shutil.copy(persona, agents / persona.name)
    running = start_stack(
        tmp_path_factory.mktemp("scenarios"),
        extra_args=("--persona", DEFAULT_PERSONA),
        env={"AGENTS_DIR": str(agents)},
    )
    yield running
    running.stop()


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_passes_over_a_real_call(
    path: Path, scenario_stack: RunningStack, tmp_path: Path
) -> None:
    scenario = load_scenario(path)
    expected = asyncio.run(run_text(scenario))  # what the agent will say, to time the lines
    outcome = run_call(scenario, scenario_stack, tmp_path, expected=expected)
    heard = "\n".join([f"greeting: {outcome.greeting}", *outcome.replies])
    assert check(scenario, outcome) == [], f"heard:\n{heard}\nrecord: {outcome.record}"
    assert outcome.record is not None and outcome.record["persona"] == scenario.persona
    if scenario.hangs_up:
        assert outcome.record["outcome"] == "agent_hung_up"
