"""The rules of a persona's output guard (`guard.banned`): what a sentence must never contain.

A rule is a phrase or, written between slashes, a regular expression. A phrase matches as
whole words, ignoring case and how the words are spaced ("free money" matches "Free  money!"
but not "carefree moneyboxes"); a `/pattern/` is searched anywhere in the sentence, also
ignoring case. Both live here, next to the persona schema that validates them, so `personas
check` refuses a bad pattern with the same code that the worker later matches with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Typographic apostrophes and quotes an LLM writes, as a persona author types them.
_PLAIN = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
MAX_MATCHED_CHARS = 80  # what a guard event keeps of the banned text: enough to see why


@dataclass(frozen=True)
class BannedRule:
    written: str  # as the persona file has it: what a guard event names
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Match:
    rule: str
    matched: str


def compile_rule(written: str) -> BannedRule:
    """One `guard.banned` entry as a pattern; ValueError saying what is wrong with it."""
    if len(written) >= 2 and written.startswith("/") and written.endswith("/"):
        body = written[1:-1]
        if not body:
            raise ValueError("an empty /pattern/ would match every sentence")
        try:
            pattern = re.compile(body, re.IGNORECASE)
        except re.error as err:
            raise ValueError(f"`{written}` is not a valid regular expression: {err}") from err
        if pattern.search(""):
            raise ValueError(f"`{written}` matches an empty sentence, so it would match every one")
        return BannedRule(written, pattern)
    words = written.translate(_PLAIN).split()
    if not words:
        raise ValueError("a banned phrase cannot be empty")
    phrase = r"\s+".join(re.escape(word) for word in words)
    return BannedRule(written, re.compile(rf"(?<!\w){phrase}(?!\w)", re.IGNORECASE))


def compile_rules(written: tuple[str, ...]) -> tuple[BannedRule, ...]:
    return tuple(compile_rule(rule) for rule in written)


def first_match(rules: tuple[BannedRule, ...], sentence: str) -> Match | None:
    """The first rule the sentence breaks, with the text it matched; None if it is fine."""
    text = sentence.translate(_PLAIN)
    for rule in rules:
        if found := rule.pattern.search(text):
            return Match(rule=rule.written, matched=found.group(0)[:MAX_MATCHED_CHARS])
    return None
