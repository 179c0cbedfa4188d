"""The output guard's rules (`guard.banned`) and what `personas check` says about them and
about `tools.mcp` entries: phrases match whole words ignoring case and spacing, `/patterns/`
are regular expressions, and a bad one is a persona error naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dialroom.guard_rules import compile_rule, compile_rules, first_match
from dialroom.persona import PersonaError, load_persona
from start import app

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("rule", "sentence"),
    [
        ("free money", "Would you like some Free  Money today?"),
        ("free money", "It's free\nmoney."),
        ("don't worry", "Don\u2019t worry, it is handled."),  # the apostrophe an LLM writes
        ("/guarantee[sd]?/", "Returns are GUARANTEED."),
        ("/\\b\\d{3}-\\d{2}-\\d{4}\\b/", "Your number is 123-45-6789."),
        ("c++", "We wrote it in C++, of course."),  # a phrase is not a regular expression
    ],
)
def test_a_rule_matches_its_sentence(rule: str, sentence: str) -> None:
    assert first_match(compile_rules((rule,)), sentence) is not None


@pytest.mark.parametrize(
    ("rule", "sentence"),
    [
        ("free money", "A carefree moneybox."),  # whole words only
        ("free money", "Free delivery; money back."),
        ("c++", "We wrote it in C."),
        ("/guarantee[sd]?/", "No promises."),
    ],
)
def test_a_rule_leaves_other_sentences_alone(rule: str, sentence: str) -> None:
    assert first_match(compile_rules((rule,)), sentence) is None


def test_the_first_broken_rule_is_named_with_only_the_words_it_matched() -> None:
    rules = compile_rules(("refund", "/cure[sd]? (all|every)\\w*/"))
    found = first_match(rules, "This pill cures everything you have, believe me.")
    assert found is not None
    assert (found.rule, found.matched) == ("/cure[sd]? (all|every)\\w*/", "cures everything")


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("/(unclosed/", "not a valid regular expression"),
        ("//", "empty /pattern/"),
        ("/x*/", "matches an empty sentence"),
        ("   ", "cannot be empty"),
    ],
)
def test_a_bad_rule_says_why(rule: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        compile_rule(rule)


PERSONA = """\
name: {name}
stt: {{provider: local}}
llm: {{provider: openai}}
tts: {{provider: local}}
prompt: p.md
greeting: {{inbound: "Hello"}}
"""

JUDGE_ON_FLOW = """\
stt: {provider: local}
llm: {provider: flow}
tts: {provider: local}
greeting: {inbound: "Which day?"}
flow: [{collect: day, choices: [monday]}]
guard: {judge: true}
"""

MISTAKES = {
    "bad_pattern": (
        'guard: {banned: ["free money", "/(unclosed/"]}',
        "guard.banned.1: `/(unclosed/` is not a valid regular expression",
    ),
    "banned_replacement": (
        'guard: {banned: ["sorry"], replace_with: "Sorry, no."}',
        "guard: `replace_with` is itself banned by `sorry`",
    ),
    "banned_greeting": (
        'guard: {banned: ["/hel+o/"]}',
        "greeting.inbound is banned by guard rule `/hel+o/`",
    ),
    "empty_guard": ("guard: {replace_with: Hmm.}", "guard: a guard needs `banned` rules"),
    "mcp_without_url": (
        "tools: {mcp: [{allowed_tools: [lookup]}]}",
        "tools.mcp.0.url: required field is missing",
    ),
    "mcp_plain_secret": (
        'tools: {mcp: [{url: "https://tools.example.com/mcp", headers: {X-Key: OPENAI_API_KEY}}]}',
        "tools.mcp.0.headers.X-Key: must name an environment variable starting with TOOL_SECRET_",
    ),
    "mcp_no_tools_allowed": (
        'tools: {mcp: [{url: "https://tools.example.com/mcp", allowed_tools: []}]}',
        "tools.mcp.0.allowed_tools: ",
    ),
}


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    agents, prompts = tmp_path / "agents", tmp_path / "prompts"
    agents.mkdir()
    prompts.mkdir()
    (prompts / "p.md").write_text("You sell things.")
    for name, (extra, _) in MISTAKES.items():
        (agents / f"{name}.yaml").write_text(PERSONA.format(name=name) + extra + "\n")
    (agents / "judge_on_flow.yaml").write_text(JUDGE_ON_FLOW)
    good = 'guard: {banned: ["/guarantee[sd]?/"]}\ntools: {mcp: [{url: "https://t.example/mcp"}]}'
    (agents / "fine.yaml").write_text(PERSONA.format(name="fine") + good + "\n")
    return agents, prompts


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_each_mistake_is_a_persona_error_naming_file_and_field(
    folders: tuple[Path, Path], name: str
) -> None:
    agents, prompts = folders
    with pytest.raises(PersonaError) as caught:
        load_persona(name, agents_dir=agents, prompts_dir=prompts)
    assert str(caught.value).startswith(f"{name}.yaml: {MISTAKES[name][1]}"), str(caught.value)


def test_personas_check_reports_them_and_accepts_the_good_one(folders: tuple[Path, Path]) -> None:
    agents, prompts = folders
    args = ["personas", "check", "--agents-dir", str(agents), "--prompts-dir", str(prompts)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    for name, (_, message) in MISTAKES.items():
        assert f"{name}.yaml: {message}" in result.stderr, result.stderr
    assert "judge_on_flow.yaml: guard.judge asks the persona's LLM" in result.stderr
    assert f"1 of {len(MISTAKES) + 2} persona(s) fine: fine" in result.stdout
