"""Personas: the shipped ones load; each kind of mistake names the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialroom.persona import PersonaError, load_persona

GOOD = """\
stt: {provider: local}
llm: {provider: openai, model: gpt-4.1-mini}
tts: {provider: local}
prompt: p.md
greeting: {inbound: "Hello {caller_name}"}
"""


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    agents, prompts = tmp_path / "agents", tmp_path / "prompts"
    agents.mkdir()
    prompts.mkdir()
    (prompts / "p.md").write_text("You answer calls for {persona}.")
    return agents, prompts


def load(dirs: tuple[Path, Path], text: str, name: str = "p") -> object:
    (dirs[0] / f"{name}.yaml").write_text(text)
    return load_persona(name, agents_dir=dirs[0], prompts_dir=dirs[1])


def test_shipped_personas_load() -> None:
    assert load_persona("demo").llm.provider == "flow"
    assert load_persona("receptionist").stt.provider == "azure"


def test_a_good_persona_loads(dirs: tuple[Path, Path]) -> None:
    assert load(dirs, GOOD).name == "p"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (GOOD + "colour: blue\n", "colour", "unknown field"),
        (GOOD.replace("provider: openai", "provider: gemini"), "llm.provider", "openai"),
        (GOOD.replace("prompt: p.md", "prompt: missing.md"), "prompt", "does not exist"),
        (GOOD.replace("{caller_name}", "{account_id}"), "greeting.inbound", "unknown variable"),
        (GOOD.replace('greeting: {inbound: "Hello {caller_name}"}\n', ""), "greeting", "missing"),
        (GOOD + "turn: {min_endpointing_s: fast}\n", "turn.min_endpointing_s", "number"),
        ("stt: [unclosed\n", "line", "not valid YAML"),
        (GOOD + "voicemail: {action: beep}\n", "voicemail.action", "'hang_up' or 'leave_message'"),
        (
            GOOD + "voicemail: {action: hang_up, message: 'Hi {account_id}'}\n",
            "voicemail.message",
            "unknown variable {account_id}",
        ),
    ],
)
def test_each_mistake_names_file_field_and_problem(
    dirs: tuple[Path, Path], text: str, field: str, words: str
) -> None:
    with pytest.raises(PersonaError) as caught:
        load(dirs, text)
    message = str(caught.value)
    assert message.startswith("p.yaml: " + field), message
    assert words in message, message


def test_flow_persona_must_start_by_collecting(dirs: tuple[Path, Path]) -> None:
    text = GOOD.replace("provider: openai, model: gpt-4.1-mini", "provider: flow").replace(
        "prompt: p.md\n", ""
    )
    with pytest.raises(PersonaError, match="no `flow:` steps"):
        load(dirs, text)
    with pytest.raises(PersonaError, match="first step must be a `collect`"):
        load(dirs, text + 'flow:\n  - say: "hi"\n')


def test_unknown_persona_lists_the_available_ones(dirs: tuple[Path, Path]) -> None:
    load(dirs, GOOD, name="front-desk")
    with pytest.raises(PersonaError, match=r"no such persona \(available: front-desk\)"):
        load_persona("nope", agents_dir=dirs[0], prompts_dir=dirs[1])
