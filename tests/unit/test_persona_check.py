"""`personas check|list` over a folder of broken personas: one precise error per mistake.

`tests/fixtures/broken_personas/` holds one file per kind of mistake; each must be reported
with its file, its field and the words that say how to fix it, by the loader and by
`start.py personas check`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dialroom.paths import ROOT
from dialroom.persona import PersonaError, check_all, load_persona
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
    "voicemail_without_message": ("voicemail", "needs `message:`"),
}


def test_every_fixture_is_one_commented_mistake_or_the_good_one() -> None:
    files = sorted(BROKEN.glob("*.yaml"))
    assert {f.stem for f in files} == {*MISTAKES, "good"}
    for file in files:
        assert file.read_text().startswith("# "), f"{file.name} must say what is wrong first"


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_each_broken_persona_names_file_field_and_fix(name: str) -> None:
    field, words = MISTAKES[name]
    with pytest.raises(PersonaError) as caught:
        load_persona(name, agents_dir=BROKEN)
    message = str(caught.value)
    assert message.startswith(f"{name}.yaml: {field}: "), message
    assert words in message, message


def test_check_all_separates_good_from_broken() -> None:
    good, broken = check_all(agents_dir=BROKEN)
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
    assert "1 of 11 persona(s) fine: good; 10 broken" in result.stdout


def test_personas_check_of_the_shipped_personas_passes() -> None:
    result = CliRunner().invoke(app, ["personas", "check"])
    assert result.exit_code == 0, result.output
    assert "fine: demo, receptionist, reminder" in result.stdout


def test_personas_list_shows_providers_and_errors() -> None:
    runner = CliRunner(env={"COLUMNS": "250"})
    result = runner.invoke(app, ["personas", "list", "--agents-dir", str(BROKEN)])
    assert result.exit_code == 0, result.output
    [good] = [line for line in result.stdout.splitlines() if " good " in line]
    assert "+15551230000" in good and "local" in good and "flow" in good
    assert "stt.provider: Input should be 'azure', 'openai' or 'local'" in result.stdout


def test_a_persona_saved_in_another_encoding_is_a_persona_error(tmp_path: Path) -> None:
    demo = (ROOT / "agents" / "demo.yaml").read_text()
    legacy = demo.replace("name: demo", "name: legacy") + "\n# Café Zoë\n"
    (tmp_path / "legacy.yaml").write_bytes(legacy.encode("latin-1"))

    with pytest.raises(PersonaError) as caught:
        load_persona("legacy", agents_dir=tmp_path)
    assert "legacy.yaml" in str(caught.value) and "not UTF-8" in str(caught.value)
