"""`tools.http` in a persona: a missing secret, a secret outside TOOL_SECRET_*, a URL
`{param}` that is not declared and a name that clashes are errors naming the field, before any
call uses the persona; so is a `prompt:` outside the prompts folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialroom.persona import PersonaError, load_persona, tool_secret

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
      secret_headers: {{X-Api-Key: {secret}}}
"""


def load(
    tmp_path: Path,
    *,
    name: str = "order_status",
    url: str = "http://api/orders",
    secret: str = "TOOL_SECRET_ORDERS_TOKEN",
) -> object:
    (tmp_path / "p.md").write_text("You answer calls.")
    (tmp_path / "shop.yaml").write_text(PERSONA.format(name=name, url=url, secret=secret))
    return load_persona("shop", agents_dir=tmp_path, prompts_dir=tmp_path)


def error(tmp_path: Path, **kwargs: str) -> str:
    with pytest.raises(PersonaError) as caught:
        load(tmp_path, **kwargs)
    return str(caught.value)


def test_a_persona_with_its_secret_set_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOL_SECRET_ORDERS_TOKEN", "tok")
    persona = load(tmp_path, url="http://api/orders/{order_id}")
    secrets = persona.tools.http[0].secret_headers  # type: ignore[attr-defined]
    assert secrets == {"X-Api-Key": "TOOL_SECRET_ORDERS_TOKEN"}


def test_a_missing_secret_names_the_field_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOOL_SECRET_ORDERS_TOKEN", raising=False)
    assert error(tmp_path) == (
        "shop.yaml: tools.http.0.secret_headers.X-Api-Key: environment variable "
        "TOOL_SECRET_ORDERS_TOKEN is not set (put it in .env)"
    )


def test_an_undeclared_url_parameter_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOL_SECRET_ORDERS_TOKEN", "tok")
    assert error(tmp_path, url="http://api/{customer}/orders") == (
        "shop.yaml: tools.http.0.url: unknown parameter {customer}; declare it under params"
    )


@pytest.mark.parametrize(
    ("url", "stray"),
    [
        ("http://api/orders/{order_id:>99999999}", "{order_id:>99999999}"),  # a format spec
        ("http://api/orders/{order_id!r}", "{order_id!r}"),
        ("http://api/orders/{order_id.__class__}", "{order_id.__class__}"),
        ("http://api/orders/{order_id", "{order_id"),
    ],
)
def test_a_url_brace_that_is_not_a_parameter_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, stray: str
) -> None:
    monkeypatch.setenv("TOOL_SECRET_ORDERS_TOKEN", "tok")
    assert error(tmp_path, url=url) == (
        f"shop.yaml: tools.http.0.url: `{stray}` is not a {{parameter}}: write `{{name}}` of a "
        "declared parameter (`{{` and `}}` for a literal brace)"
    )


def test_a_tool_named_like_a_built_in_tool_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOOL_SECRET_ORDERS_TOKEN", "tok")
    assert error(tmp_path, name="end_call") == (
        "shop.yaml: tools.http.0.name: `end_call` is already a tool name"
    )


@pytest.mark.parametrize("secret", ["LIVEKIT_API_SECRET", "API_KEYS", "ORDERS_TOKEN"])
def test_a_secret_outside_the_tool_prefix_is_refused_though_it_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv(secret, "the-process-own-secret")
    assert error(tmp_path, secret=secret) == (
        "shop.yaml: tools.http.0.secret_headers.X-Api-Key: must name an environment variable "
        "starting with TOOL_SECRET_ (like TOOL_SECRET_ORDERS_TOKEN): only those are sent to tools"
    )
    assert tool_secret(secret) is None  # nor read at call time, whatever the persona says


def load_with_prompt(tmp_path: Path, prompt: str, *, link: bool = False) -> None:
    """A persona in agents/ naming `prompt`, with prompts/ beside it and a file outside."""
    prompts, agents = tmp_path / "prompts", tmp_path / "agents"
    prompts.mkdir(), agents.mkdir()
    (tmp_path / "outside.md").write_text("Secrets of the machine.")
    if link:
        (prompts / prompt).symlink_to(tmp_path / "outside.md")
    persona = "stt: {provider: local}\nllm: {provider: openai}\ntts: {provider: local}\n"
    (agents / "shop.yaml").write_text(persona + f"prompt: {prompt}\ngreeting: {{inbound: Hi}}\n")
    load_persona("shop", agents_dir=agents, prompts_dir=prompts)


@pytest.mark.parametrize("prompt", ["../outside.md", "/etc/passwd", "sub/../../outside.md"])
def test_a_prompt_outside_the_prompts_folder_is_refused(tmp_path: Path, prompt: str) -> None:
    with pytest.raises(PersonaError) as caught:
        load_with_prompt(tmp_path, prompt)
    assert str(caught.value) == (
        "shop.yaml: prompt: must be a file inside prompts/ (no absolute path, no `..`)"
    )


def test_a_prompt_linking_out_of_the_prompts_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PersonaError, match="prompt: must be a file inside prompts/"):
        load_with_prompt(tmp_path, "p.md", link=True)
