"""Persona files are parsed by libyaml's safe loader: the same data as PyYAML's `safe_load`,
no object built from a tag."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dialroom.paths import AGENTS_DIR
from dialroom.yaml_text import SafeLoader, parse_yaml

pytestmark = pytest.mark.unit


def test_libyaml_parses_when_pyyaml_has_it() -> None:
    assert yaml.__with_libyaml__, "the installed PyYAML wheel should carry libyaml"
    assert SafeLoader is yaml.CSafeLoader


@pytest.mark.parametrize("path", sorted(AGENTS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_persona_reads_as_safe_load_reads_it(path: Path) -> None:
    text = path.read_text()
    assert parse_yaml(text) == yaml.safe_load(text)


def test_a_tag_is_refused_not_built() -> None:
    with pytest.raises(yaml.YAMLError):
        parse_yaml("greeting: !!python/object/apply:os.system ['echo hi']\n")


def test_bad_yaml_says_its_line() -> None:
    with pytest.raises(yaml.MarkedYAMLError) as err:
        parse_yaml("name: demo\nstt: {provider: local\nllm: x\n")
    assert err.value.problem_mark is not None and err.value.problem_mark.line >= 1
