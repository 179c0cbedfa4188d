"""The output guard (persona `guard:`): a sentence with a banned phrase or pattern is never
spoken; another sentence is said in its place and the call record says so.

Why per sentence, in the agent's nodes: a TTS starts speaking what it is handed at once, so
the text is held until a sentence is complete, checked, and only then passed on or replaced
(livekit's blingfire sentence tokenizer, the one its TTS adapter uses). Everything spoken
goes through `tts_node`: LLM replies, `say()` lines, flow steps. The transcript goes through
`transcription_node` and gets the same treatment, so the room's transcript, the LLM's chat
history and the call record all say what the caller heard, not what the model wrote.

The event is recorded where the transcript is checked (that node runs with or without
audio), never the unsafe sentence itself: the rule and the words it matched. With
`judge: true` the persona's LLM also reads each sentence the rules let through
(`worker.guard_judge`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from livekit.agents import Agent, ModelSettings, llm, utils
from livekit.agents.tokenize import blingfire

from dialroom.calls import GuardEvent
from dialroom.guard_rules import MAX_MATCHED_CHARS, BannedRule, Match, compile_rules, first_match
from dialroom.persona import Guard
from worker.call_state import CallState
from worker.guard_judge import SentenceJudge

logger = logging.getLogger("dialroom.worker.guard")
JUDGE_RULE = "judge"  # the rule a guard event names when the judge refused the sentence

Verdict = asyncio.Task[str | None] | None  # the judge's answer to come (None: not asked)


class SpeechGuard:
    """One call's guard: the persona's rules, its judge, its replacement, and the record."""

    def __init__(self, guard: Guard, state: CallState) -> None:
        self.guard = guard
        self.rules: tuple[BannedRule, ...] = compile_rules(guard.banned)
        self.replacement = guard.replace_with
        self.state = state
        self.judge: SentenceJudge | None = None

    def use_model(self, model: object) -> None:
        """The LLM the judge asks: the agent's, known once it runs (`judge: true` only)."""
        if self.guard.judge and self.judge is None and isinstance(model, llm.LLM):
            self.judge = SentenceJudge(model, self.guard.policy, call_id=self.state.call_id)

    def screen(self, sentence: str, *, record: bool, judged: str | None = None) -> str:
        """The sentence itself, or the replacement when a rule (or the judge's reason,
        `judged`) forbids it; the replacement keeps the sentence's surrounding whitespace."""
        found = first_match(self.rules, sentence)
        if found is None and judged is not None:
            found = Match(rule=JUDGE_RULE, matched=judged[:MAX_MATCHED_CHARS])
        if found is None:
            return sentence
        if record:
            self._record(found)
        lead = sentence[: len(sentence) - len(sentence.lstrip())]
        trail = sentence[len(sentence.rstrip()) :]
        return f"{lead}{self.replacement}{trail}"

    def _record(self, found: Match) -> None:
        turn = 1 + sum(1 for line in self.state.transcript if line.role == "agent")
        self.state.guard_events.append(
            GuardEvent(
                at=time.time(),
                turn=turn,
                rule=found.rule,
                matched=found.matched,
                replaced_with=self.replacement,
            )
        )
        logger.warning(
            "call %s: guard replaced a sentence (rule %r, agent line %d)",
            self.state.call_id,
            found.rule,
            turn,
        )

    def _ask_judge(self, sentence: str) -> Verdict:
        if self.judge is None or first_match(self.rules, sentence) is not None:
            return None  # no judge, or the rules already refuse it
        return self.judge.verdict(sentence)

    async def filter(self, text: AsyncIterable[str], *, record: bool) -> AsyncIterator[str]:
        """`text` as whole sentences, each screened; nothing passes before its sentence ends.
        Each sentence goes to the judge as soon as it is complete, in order of arrival."""
        sentences = blingfire.SentenceTokenizer(retain_format=True, min_sentence_len=1).stream()
        ready: asyncio.Queue[tuple[str, Verdict] | None] = asyncio.Queue()

        async def feed() -> None:
            try:
                async for chunk in text:
                    sentences.push_text(str(chunk))  # a TimedString's timing goes: rewritten
            finally:
                sentences.end_input()

        async def split() -> None:
            async for event in sentences:
                ready.put_nowait((event.token, self._ask_judge(event.token)))
            ready.put_nowait(None)

        tasks = [asyncio.create_task(feed()), asyncio.create_task(split())]
        try:
            while (item := await ready.get()) is not None:
                sentence, verdict = item
                judged = await verdict if verdict is not None else None
                yield self.screen(sentence, record=record, judged=judged)
            await asyncio.gather(*tasks)  # surface an error of the source
        finally:
            await utils.aio.cancel_and_wait(*tasks)
            await sentences.aclose()


class GuardedAgent(Agent):
    """An Agent whose speech and transcript pass through its `speech_guard`, when it has one
    (none: livekit's default nodes, untouched)."""

    speech_guard: SpeechGuard | None = None

    def tts_node(self, text: AsyncIterable[str], model_settings: ModelSettings) -> Any:
        if guard := self._running_guard():
            text = guard.filter(text, record=False)
        return Agent.default.tts_node(self, text, model_settings)

    def transcription_node(self, text: AsyncIterable[Any], model_settings: ModelSettings) -> Any:
        if guard := self._running_guard():
            text = guard.filter(text, record=True)
        return Agent.default.transcription_node(self, text, model_settings)

    def _running_guard(self) -> SpeechGuard | None:
        if self.speech_guard is not None:
            self.speech_guard.use_model(self.llm if isinstance(self.llm, llm.LLM) else None)
            self.speech_guard.use_model(self.session.llm)
        return self.speech_guard


def speech_guard(guard: Guard | None, state: CallState) -> SpeechGuard | None:
    """The call's guard for a persona's `guard:` section (None: the persona has none)."""
    return SpeechGuard(guard, state) if guard is not None else None
