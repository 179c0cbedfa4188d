"""Text from outside is data: `{name}` of a known variable is the only thing ever replaced.

The properties are checked with hypothesis over arbitrary text and variables, through the real
`dialroom.templates.fill`, the real API request model (`OutboundCallBody`) and the worker's own
`agent_for`, which fills a call's greeting and prompt before anything is said.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.models import OutboundCallBody
from dialroom.dial import DialRequest
from dialroom.last_good import CallPersona
from dialroom.persona import load_persona
from dialroom.templates import fill, is_identifier, names, unfilled
from worker.call_state import CallState
from worker.persona_agent import agent_for, call_variables

pytestmark = pytest.mark.unit

# Text rich in what format strings react to, plus anything else unicode has.
TEMPLATE_ALPHABET = st.one_of(st.sampled_from("{}[]:.!>0x_ aA1%$"), st.characters())
templates = st.text(TEMPLATE_ALPHABET, max_size=80)
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
variables = st.dictionaries(st.one_of(identifiers, st.text()), st.text(max_size=40), max_size=6)
call_variables_ = st.dictionaries(  # what a client may send: names usable as {name}
    st.one_of(identifiers, st.sampled_from(["appointment_day", "caller_name", "order"])),
    st.text(TEMPLATE_ALPHABET, max_size=40),
    max_size=6,
)


def reference_fill(template: str, values: Mapping[str, str]) -> str:
    """The documented rules, one character at a time: the model `fill` must agree with."""
    out, i = [], 0
    while i < len(template):
        pair = template[i : i + 2]
        if pair in ("{{", "}}"):
            out.append(pair[0])
            i += 2
            continue
        end = template.find("}", i + 1) if template[i] == "{" else -1
        name = template[i + 1 : end] if end > 0 else ""
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) and name in values:
            out.append(values[name])
            i = end + 1
            continue
        out.append(template[i])
        i += 1
    return "".join(out)


class Spy(dict[str, str]):
    """Variables that record every name looked up."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.asked: list[str] = []

    def __getitem__(self, name: str) -> str:
        self.asked.append(name)
        return super().__getitem__(name)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hi {name}, order {order}.", "Hi Sam, order {x}."),  # a value is never filled again
        ("code {x", "code {x"),  # the greeting of the bug report
        ("{name:>99999999}", "{name:>99999999}"),  # a format spec: no gigabytes
        ("{name.__class__} {name[0]}", "{name.__class__} {name[0]}"),  # no attribute, no index
        ("{0} {} { name } {!r} {name!r}", "{0} {} { name } {!r} {name!r}"),
        ("{unknown} and }{", "{unknown} and }{"),
        ("{{name}} {{{name}}}", "{name} {Sam}"),  # `{{`/`}}` are one brace, as in str.format
    ],
)
def test_only_a_known_name_in_braces_is_replaced(template: str, expected: str) -> None:
    assert fill(template, {"name": "Sam", "order": "{x}"}) == expected


def test_names_lists_the_placeholders_a_template_uses() -> None:
    text = "Hi {caller_name}, {{escaped}} {order}{order} {a.b} {x:>3} {9lives}"
    assert names(text) == {"caller_name", "order"}
    assert is_identifier("order_2") and not is_identifier("2order") and not is_identifier("a-b")


@pytest.mark.parametrize(
    ("template", "stray"),
    [
        ("http://api/{id}/{{raw}}", []),
        ("/{id:>9}/{id!r}/{a.b}/{c[0]}", ["{id:>9}", "{id!r}", "{a.b}", "{c[0]}"]),
        ("{a{id}} { }", ["{a", "}", "{ }"]),
        ("{", ["{"]),
    ],
)
def test_unfilled_lists_the_braces_fill_leaves_as_written(template: str, stray: list[str]) -> None:
    assert unfilled(template) == stray


@given(template=templates)
def test_a_template_with_nothing_unfilled_reads_the_same_under_str_format(template: str) -> None:
    """What a persona URL check relies on: nothing stray, nothing that format would evaluate."""
    values = {name: f"<{name}>" for name in names(template)}
    if not unfilled(template):
        assert fill(template, values) == template.format(**values)


@given(template=templates, values=variables)
def test_fill_never_raises_and_follows_the_documented_rules(
    template: str, values: dict[str, str]
) -> None:
    assert fill(template, values) == reference_fill(template, values)


@given(template=templates, values=variables)
def test_the_output_is_bounded_by_the_template_and_the_values_it_names(
    template: str, values: dict[str, str]
) -> None:
    longest = max((len(v) for v in values.values()), default=0)
    # each `{name}` replaced takes at least one `{` of the template and adds at most its value
    assert len(fill(template, values)) <= len(template) + template.count("{") * longest


@given(template=templates, values=variables)
def test_nothing_but_the_names_in_braces_is_ever_looked_up(
    template: str, values: dict[str, str]
) -> None:
    spy = Spy(values)
    fill(template, spy)
    assert set(spy.asked) <= names(template)
    assert all(is_identifier(name) for name in spy.asked)


@given(value=st.text())
def test_a_value_is_inserted_as_it_is(value: str) -> None:
    assert fill("<{v}>", {"v": value}) == f"<{value}>"


@given(inner=st.text().filter(lambda s: not is_identifier(s) and "{" not in s and "}" not in s))
def test_anything_in_braces_that_is_not_a_name_stays_as_written(inner: str) -> None:
    assert fill("{" + inner + "}", {inner: "evaluated"}) == "{" + inner + "}"


def bodies(*, junk: bool = True) -> st.SearchStrategy[dict[str, object]]:
    """`POST /api/outbound-call` bodies; with `junk`, also fields of the wrong shape."""
    text = st.one_of(templates, st.none())
    names = call_variables_
    if junk:
        text = st.one_of(text, st.integers(), st.lists(st.text(max_size=3)))
        names = st.one_of(names, variables, st.dictionaries(st.text(), st.integers()))
    return st.fixed_dictionaries(
        {"to_number": st.just("+14155550123"), "persona": st.just("reminder")},
        optional={
            "greeting": text,
            "llm_prompt": text,
            "caller_name": st.one_of(st.text(TEMPLATE_ALPHABET, max_size=20), st.none()),
            "variables": names,
        },
    )


def accepted(body: dict[str, object]) -> OutboundCallBody | None:
    """The API's own model: a body is either accepted or a ValidationError (a 422)."""
    try:
        return OutboundCallBody.model_validate(body)
    except ValidationError as err:
        assert err.errors(), "a 422 names what is wrong"
        return None


@given(body=bodies())
def test_the_api_model_accepts_or_names_the_field_and_never_raises_otherwise(
    body: dict[str, object],
) -> None:
    call = accepted(body)
    if call is None:
        return
    assert all(is_identifier(name) for name in call.variables), "a name usable as {name}"
    for text in (call.greeting, call.llm_prompt):
        if text is not None:
            filled = fill(text, call.variables)
            longest = max((len(v) for v in call.variables.values()), default=0)
            assert len(filled) <= len(text) + text.count("{") * longest


def test_a_variable_name_that_cannot_be_a_placeholder_is_a_422_on_variables() -> None:
    body = {"to_number": "+14155550123", "persona": "demo", "variables": {"order id": "42"}}
    with pytest.raises(ValidationError) as caught:
        OutboundCallBody.model_validate(body)
    [error] = caught.value.errors()
    assert error["loc"] == ("variables",) and error["type"] == "variable_name"
    assert "'order id'" in error["msg"]


@pytest.fixture(scope="module")
def reminder() -> Iterator[CallPersona]:
    yield CallPersona(persona=load_persona("reminder"), prompt="")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies(junk=False))
def test_a_call_the_api_accepts_gets_a_greeting_and_prompt_without_error(
    body: dict[str, object], reminder: CallPersona
) -> None:
    call = OutboundCallBody.model_validate(body)  # every such body is accepted
    request = DialRequest(**call.model_dump(), call_id="prop-test-1")
    state = CallState(call_id="prop-test-1", persona="reminder", direction="outbound", room="r")
    variables = call_variables(reminder.persona, state, request)
    agent = agent_for(reminder, state, request, variables, greet_on_enter=False)
    greeting = agent._greeting  # what the callee hears first
    assert greeting == fill(call.greeting or reminder.persona.greeting.outbound, variables)
    if not call.greeting:
        day = call.variables.get("appointment_day", "tomorrow")  # the persona's default
        assert f"your appointment {day}." in greeting
