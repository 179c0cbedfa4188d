"""`tools.http` in a persona: a missing secret, a URL `{param}` that is not declared and a
name that clashes are errors naming the field, before any call uses the persona."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialroom.persona import PersonaError, load_persona

PERSONA = """\
stt: {{provider: local}}
llm: {{provider: openai}}
tts: {{provider: local}}
prompt: p.md
greeting: {{inbound: Hello}}
tools:
  http:
    - name: {name}
      description: Look up an order.
      url: "{url}"
      params: {{order_id: string}}
      secret_headers: {{X-Api-Key: ORDERS_TOKEN}}
"""


def load(tmp_path: Path, *, name: str = "order_status", url: str = "http://api/orders") -> object:
    (tmp_path / "p.md").write_text("You answer calls.")
    (tmp_path / "shop.yaml").write_text(PERSONA.format(name=name, url=url))
    return load_persona("shop", agents_dir=tmp_path, prompts_dir=tmp_path)


def error(tmp_path: Path, **kwargs: str) -> str:
    with pytest.raises(PersonaError) as caught:
        load(tmp_path, **kwargs)
    return str(caught.value)


def test_a_persona_with_its_secret_set_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_TOKEN", "tok")
    persona = load(tmp_path, url="http://api/orders/{order_id}")
    assert persona.tools.http[0].secret_headers == {"X-Api-Key": "ORDERS_TOKEN"}  # type: ignore[attr-defined]


def test_a_missing_secret_names_the_field_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORDERS_TOKEN", raising=False)
    assert error(tmp_path) == (
        "shop.yaml: tools.http.0.secret_headers.X-Api-Key: environment variable ORDERS_TOKEN "
        "is not set (put it in .env)"
    )


def test_an_undeclared_url_parameter_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_TOKEN", "tok")
    assert error(tmp_path, url="http://api/{customer}/orders") == (
        "shop.yaml: tools.http.0.url: unknown parameter {customer}; declare it under params"
    )


def test_a_tool_named_like_a_built_in_tool_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_TOKEN", "tok")
    assert error(tmp_path, name="end_call") == (
        "shop.yaml: tools.http.0.name: `end_call` is already a tool name"
    )
