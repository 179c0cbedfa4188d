"""The telephony file: every shipped example is valid, and each kind of mistake is one error
naming the file, the field and the fix. Passwords come only from environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from livekit import api

from dialroom.paths import AGENTS_DIR, SIP_DIR
from sip.objects import desired_views, inbound_proto
from sip.secrets import SecretsError, needed_secrets, resolve_secrets
from sip.spec import TELEPHONY_FILE, SpecError, load_spec

EXAMPLES = sorted((SIP_DIR / "examples").glob("*.yaml"))

GOOD = """
inbound:
  - name: main
    numbers: ["+15551230000"]
    allowed_addresses: ["10.0.0.0/24"]
    auth: {username: me, password_env: MAIN_PASSWORD}
outbound:
  - name: out
    address: sip.example.com
    numbers: ["+15551230000"]
dispatch:
  - name: main
    trunks: [main]
    default_persona: demo
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "telephony.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", [*EXAMPLES, TELEPHONY_FILE], ids=lambda p: p.name)
def test_every_shipped_file_is_valid(path: Path) -> None:
    spec = load_spec(path, agents_dir=AGENTS_DIR)
    assert len(spec.inbound) == len(spec.dispatch)


def test_the_examples_cover_twilio_telnyx_and_a_pbx() -> None:
    assert {p.stem for p in EXAMPLES} >= {"twilio", "telnyx", "pbx"}


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (
            ("password_env: MAIN_PASSWORD", "password: hunter2"),
            "inbound.0.auth.password",
            "secrets never go in this file",
        ),
        (("MAIN_PASSWORD", "hunter2"), "inbound.0.auth.password_env", "NAME of an environment"),
        (
            ('allowed_addresses: ["10.0.0.0/24"]', 'allowed_addresses: ["10.0.0.300"]'),
            "inbound.0.allowed_addresses",
            "not an IP address",
        ),
        (
            ('numbers: ["+15551230000"]\n    allowed', 'numbers: ["555-1234"]\n    allowed'),
            "inbound.0.numbers",
            "E.164",
        ),
        (
            ("address: sip.example.com", "address: sip:sip.example.com"),
            "outbound.0.address",
            "without `sip:`",
        ),
        (("name: out", "name: Out_Trunk"), "outbound.0.name", "lowercase"),
    ],
)
def test_a_mistake_names_the_field_and_the_fix(
    tmp_path: Path, change: tuple[str, str], field: str, says: str
) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, GOOD.replace(*change, 1)), agents_dir=AGENTS_DIR)
    assert err.value.field == field
    assert says in err.value.problem
    assert str(err.value).startswith(f"telephony.yaml: {field}: ")


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            (
                '    allowed_addresses: ["10.0.0.0/24"]\n    auth: {username: me, password_env: '
                "MAIN_PASSWORD}\n",
                "",
            ),
            "accepts calls from anyone",
        ),
        (("trunks: [main]", "trunks: [other]"), "names trunk `other`"),
        (("trunks: [main]", "trunks: [main, main]"), "in two dispatch rules"),
        (("name: main\n    trunks", "name: dialroom-dev\n    trunks"), "reserved"),
    ],
)
def test_cross_checks_explain_what_to_do(
    tmp_path: Path, change: tuple[str, str], says: str
) -> None:
    with pytest.raises(SpecError, match=says):
        load_spec(write(tmp_path, GOOD.replace(*change, 1)), agents_dir=AGENTS_DIR)


def test_a_trunk_without_a_dispatch_rule_is_an_error(tmp_path: Path) -> None:
    text = GOOD.split("dispatch:")[0]
    with pytest.raises(SpecError, match="have no dispatch rule"):
        load_spec(write(tmp_path, text), agents_dir=AGENTS_DIR)


def test_an_unknown_default_persona_names_its_field(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, GOOD.replace("demo", "nobody")), agents_dir=AGENTS_DIR)
    assert err.value.field == "dispatch.0.default_persona"
    assert "no persona `nobody`" in err.value.problem


def test_an_unknown_field_and_bad_yaml_are_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="inbound.0.colour: unknown field"):
        load_spec(write(tmp_path, GOOD.replace("name: main\n", "name: main\n    colour: red\n", 1)))
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(write(tmp_path, "inbound: [\n"))


def test_a_missing_password_variable_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("MAIN_PASSWORD", raising=False)
    spec = load_spec(write(tmp_path, GOOD), agents_dir=AGENTS_DIR)
    with pytest.raises(SecretsError) as err:
        resolve_secrets(needed_secrets(spec))
    message = str(err.value)
    assert "MAIN_PASSWORD not set" in message and "inbound.0.auth.password_env" in message
    assert "\n" not in message


def test_passwords_come_from_the_environment_or_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = load_spec(write(tmp_path, GOOD), agents_dir=AGENTS_DIR)
    (tmp_path / ".env").write_text("MAIN_PASSWORD=from-dotenv\n")
    monkeypatch.delenv("MAIN_PASSWORD", raising=False)
    assert resolve_secrets(needed_secrets(spec)) == {"MAIN_PASSWORD": "from-dotenv"}
    monkeypatch.setenv("MAIN_PASSWORD", "from-env")
    assert resolve_secrets(needed_secrets(spec)) == {"MAIN_PASSWORD": "from-env"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_carrier_guide_shows_each_example_exactly(path: Path) -> None:
    body = "".join(
        line for line in path.read_text().splitlines(keepends=True) if not line.startswith("#")
    )
    guide = (SIP_DIR.parent / "docs" / "carriers.md").read_text()
    assert f"`sip/examples/{path.name}`:\n\n```yaml\n{body}```" in guide


@pytest.mark.parametrize(
    ("line", "sent"),
    [
        ("", "SIP_X_HEADERS"),
        ("    include_headers: all\n", "SIP_ALL_HEADERS"),
        ("    include_headers: none\n", "SIP_NO_HEADERS"),
    ],
)
def test_include_headers_tells_the_bridge_which_headers_become_variables(
    tmp_path: Path, line: str, sent: str
) -> None:
    # Default `x`: a carrier's X-Customer-Id reaches the persona as {sip_h_x_customer_id}.
    text = GOOD.replace("    auth: {username: me", line + "    auth: {username: me")
    spec = load_spec(write(tmp_path, text), agents_dir=AGENTS_DIR)
    trunk = desired_views(spec, {"MAIN_PASSWORD": "x"}, agent_name="a")[0]  # inbound first
    assert inbound_proto(trunk).include_headers == api.SIPHeaderOptions.Value(sent)


def test_an_unknown_include_headers_value_names_the_choices(tmp_path: Path) -> None:
    text = GOOD.replace("    auth: {", "    include_headers: some\n    auth: {")
    with pytest.raises(SpecError, match=r"inbound\.0\.include_headers: .*'none', 'x' or 'all'"):
        load_spec(write(tmp_path, text), agents_dir=AGENTS_DIR)
