"""PersonaStore: an edited persona is used by the next call; a broken edit never reaches a call.

`tests/fixtures/broken_personas/` holds one file per kind of mistake; each must be reported
with its file, its field and the words that say how to fix it, by the store and by
`start.py personas check`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from dialroom.paths import ROOT
from dialroom.persona import PersonaError
from dialroom.persona_store import PersonaStore
from start import app

pytestmark = pytest.mark.unit

BROKEN = ROOT / "tests" / "fixtures" / "broken_personas"
MISTAKES = {
    "unknown_key": ("voice", "unknown field"),
    "wrong_type": ("turn.interruptions", "valid boolean"),
    "bad_provider": ("stt.provider", "'azure', 'openai' or 'local'"),
    "missing_prompt": ("prompt", "prompts/no-such-prompt.md does not exist"),
    "unknown_variable": ("greeting.inbound", "unknown variable {account_id}"),
    "flow_without_collect": ("flow", "first step must be a `collect`"),
    "invalid_yaml": ("line 3", "not valid YAML"),
    "name_mismatch": ("name", "must match the file name `name_mismatch`"),
    "missing_field": ("tts", "required field is missing"),
}

PERSONA = """\
stt: {provider: local}
llm: {provider: openai}
tts: {provider: local}
prompt: p.md
greeting: {inbound: "GREETING"}
"""


def edit(path: Path, text: str) -> None:
    """Write `text` and move the mtime a second on, as an editor saving later would."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    later = max(before, path.stat().st_mtime_ns) + 1_000_000_000
    os.utime(path, ns=(later, later))


@pytest.fixture
def store(tmp_path: Path) -> PersonaStore:
    agents, prompts = tmp_path / "agents", tmp_path / "prompts"
    agents.mkdir()
    prompts.mkdir()
    (prompts / "p.md").write_text("You answer calls for {persona}.")
    (agents / "p.yaml").write_text(PERSONA.replace("GREETING", "Hello"))
    return PersonaStore(agents_dir=agents, prompts_dir=prompts)


def test_every_fixture_is_one_commented_mistake_or_the_good_one() -> None:
    files = sorted(BROKEN.glob("*.yaml"))
    assert {f.stem for f in files} == {*MISTAKES, "good"}
    for file in files:
        assert file.read_text().startswith("# "), f"{file.name} must say what is wrong first"


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_each_broken_persona_names_file_field_and_fix(name: str) -> None:
    field, words = MISTAKES[name]
    with pytest.raises(PersonaError) as caught:
        PersonaStore(agents_dir=BROKEN).get(name)  # never good: nothing to fall back on
    message = str(caught.value)
    assert message.startswith(f"{name}.yaml: {field}: "), message
    assert words in message, message


def test_check_all_separates_good_from_broken() -> None:
    good, broken = PersonaStore(agents_dir=BROKEN).check_all()
    assert [p.name for p in good] == ["good"]
    assert sorted(err.path.stem for err in broken) == sorted(MISTAKES)


def test_personas_check_prints_one_line_per_broken_file_and_exits_1() -> None:
    result = CliRunner().invoke(app, ["personas", "check", "--agents-dir", str(BROKEN)])
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == len(MISTAKES), result.stderr
    for name, (field, words) in MISTAKES.items():
        [line] = [line for line in lines if line.startswith(f"error: {name}.yaml: ")]
        assert f"{name}.yaml: {field}: " in line and words in line, line
    assert "1 of 10 persona(s) fine: good; 9 broken" in result.stdout


def test_personas_check_of_the_shipped_personas_passes() -> None:
    result = CliRunner().invoke(app, ["personas", "check"])
    assert result.exit_code == 0, result.output
    assert "fine: demo, receptionist" in result.stdout


def test_personas_list_shows_providers_and_errors() -> None:
    runner = CliRunner(env={"COLUMNS": "250"})
    result = runner.invoke(app, ["personas", "list", "--agents-dir", str(BROKEN)])
    assert result.exit_code == 0, result.output
    [good] = [line for line in result.stdout.splitlines() if " good " in line]
    assert "+15551230000" in good and "local" in good and "flow" in good
    assert "stt.provider: Input should be 'azure', 'openai' or 'local'" in result.stdout


def test_an_edit_is_used_by_the_next_call(store: PersonaStore) -> None:
    first = store.get("p")
    assert store.get("p") is first  # unchanged file: not read again
    edit(store.agents_dir / "p.yaml", PERSONA.replace("GREETING", "Welcome"))
    assert store.get("p").greeting.inbound == "Welcome"
    assert first.greeting.inbound == "Hello"  # a call in progress keeps what it was given
    with pytest.raises(ValidationError):
        first.greeting.inbound = "changed"  # type: ignore[misc]


def test_a_broken_edit_keeps_the_last_good_version_and_logs_once(
    store: PersonaStore, caplog: pytest.LogCaptureFixture
) -> None:
    path = store.agents_dir / "p.yaml"
    edit(path, PERSONA.replace("GREETING", "Welcome"))
    assert store.get("p").greeting.inbound == "Welcome"
    caplog.set_level(logging.INFO, logger="dialroom.personas")
    edit(path, PERSONA.replace("GREETING", "Hi {account_id}"))
    for _ in range(3):
        assert store.get("p").greeting.inbound == "Welcome"
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "p.yaml: greeting.inbound: unknown variable {account_id}" in record.getMessage()

    edit(path, PERSONA.replace("GREETING", "Good morning"))
    assert store.get("p").greeting.inbound == "Good morning"


def test_a_deleted_persona_keeps_its_last_good_version(
    store: PersonaStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.get("p")
    (store.agents_dir / "p.yaml").unlink()
    assert store.get("p").greeting.inbound == "Hello"
    assert "p.yaml: no such persona" in caplog.text


def test_a_prompt_edit_is_seen_and_a_broken_one_is_not_used(store: PersonaStore) -> None:
    prompt = store.prompts_dir / "p.md"
    assert store.prompt("p") == "You answer calls for {persona}."
    edit(prompt, "You are {persona}, the front desk.")
    assert store.prompt("p") == "You are {persona}, the front desk."
    edit(prompt, "You know {secret}.")
    assert store.prompt("p") == "You are {persona}, the front desk."
    edit(prompt, "Fixed: {persona}.")
    assert store.prompt("p") == "Fixed: {persona}."


def test_fixing_a_missing_prompt_file_is_seen(store: PersonaStore) -> None:
    store.get("p")
    edit(store.agents_dir / "p.yaml", PERSONA.replace("p.md", "new.md"))
    assert store.get("p").prompt == "p.md"  # new.md does not exist yet
    (store.prompts_dir / "new.md").write_text("New prompt for {persona}.")
    assert store.get("p").prompt == "new.md"
    assert store.prompt("p") == "New prompt for {persona}."


def test_a_persona_that_was_never_good_raises(store: PersonaStore) -> None:
    with pytest.raises(PersonaError, match=r"no such persona \(available: p\)"):
        store.get("nope")
    with pytest.raises(PersonaError, match="not a valid persona name"):
        store.get("../agents/p")
