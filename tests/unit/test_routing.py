"""Inbound routing by dialled number, and what a broken persona edit does to it."""

from __future__ import annotations

from pathlib import Path

from worker.routing import persona_for_number

SALES = 'numbers: ["+15551230000", "2001"]\nstt: {provider: local}\n'


def test_the_persona_listing_the_number_gets_the_call(tmp_path: Path) -> None:
    (tmp_path / "sales.yaml").write_text(SALES)
    assert persona_for_number("2001", default="demo", agents_dir=tmp_path) == "sales"
    assert persona_for_number("+15551230000", default="demo", agents_dir=tmp_path) == "sales"


def test_an_unlisted_or_missing_number_gets_the_default(tmp_path: Path) -> None:
    (tmp_path / "sales.yaml").write_text(SALES)
    assert persona_for_number("3999", default="demo", agents_dir=tmp_path) == "demo"
    assert persona_for_number(None, default="demo", agents_dir=tmp_path) == "demo"


def test_a_broken_edit_keeps_its_numbers(tmp_path: Path) -> None:
    # A schema mistake must not move the number to the default persona: the call goes to
    # `sales`, which is then served its last good version.
    (tmp_path / "sales.yaml").write_text(SALES + "stt: {provider: nope}\ncolour: blue\n")
    assert persona_for_number("2001", default="demo", agents_dir=tmp_path) == "sales"


def test_unparseable_yaml_routes_nothing(tmp_path: Path) -> None:
    (tmp_path / "sales.yaml").write_text('numbers: ["2001"\n')
    assert persona_for_number("2001", default="demo", agents_dir=tmp_path) == "demo"
