"""The output guard's judge (persona `guard: {judge: true, policy: ...}`): the persona's own
LLM reads each sentence before it is spoken and may refuse it.

Banned rules catch the words a persona author can foresee; the judge catches what they
cannot list ("medical advice", "a promise about prices"). It asks one short question per
sentence and expects `ALLOW`, or `BLOCK: <why>`. Its cost is a model round trip per sentence,
so sentences are judged as soon as they are complete, each while the one before is spoken,
and once: the audio and the transcript of a sentence share one verdict.

A judge that does not answer within JUDGE_TIMEOUT_S (the model is down or slow) lets the
sentence through, logged: the call goes on, and the `banned` rules still hold.
"""

from __future__ import annotations

import asyncio
import logging

from livekit.agents import llm

logger = logging.getLogger("dialroom.worker.guard")

JUDGE_TIMEOUT_S = 3.0
JUDGE_MARK = "[dialroom output guard]"  # the first words of its instructions: a judge request
DEFAULT_POLICY = (
    "Nothing harmful, hateful, sexual or illegal; no medical, legal or financial advice or "
    "promises; no insults; nothing a careful customer-service agent would not say."
)


def judge_instructions(policy: str | None) -> str:
    return (
        f"{JUDGE_MARK} You check one sentence a phone agent is about to say aloud, before the "
        f"caller hears it. Policy: {policy or DEFAULT_POLICY}\n"
        "Answer with exactly `ALLOW` when the sentence keeps to the policy, otherwise "
        "`BLOCK: ` and at most eight words saying why."
    )


class SentenceJudge:
    """Asks `model` about sentences; one verdict per distinct sentence, shared by callers."""

    def __init__(self, model: llm.LLM, policy: str | None, *, call_id: str) -> None:
        self.model, self.call_id = model, call_id
        self.instructions = judge_instructions(policy)
        self._verdicts: dict[str, asyncio.Task[str | None]] = {}

    def verdict(self, sentence: str) -> asyncio.Task[str | None]:
        """Why the sentence must not be said (None: it may), started now if not yet asked."""
        key = " ".join(sentence.split())
        if key not in self._verdicts:
            self._verdicts[key] = asyncio.create_task(self._ask(key), name="guard.judge")
        return self._verdicts[key]

    async def _ask(self, sentence: str) -> str | None:
        if not sentence:
            return None
        chat = llm.ChatContext.empty()
        chat.add_message(role="system", content=self.instructions)
        chat.add_message(role="user", content=sentence)
        try:
            answer = await asyncio.wait_for(self._answer(chat), JUDGE_TIMEOUT_S)
        except Exception as err:  # the model's failure is not the caller's: say the sentence
            logger.warning("call %s: guard judge gave no verdict (%s)", self.call_id, err)
            return None
        head, _, why = answer.strip().partition(":")
        if head.strip().strip("`*").upper() != "BLOCK":
            return None
        return why.strip() or "judge"

    async def _answer(self, chat: llm.ChatContext) -> str:
        text = ""
        async with self.model.chat(chat_ctx=chat) as stream:
            async for chunk in stream:
                if chunk.delta and chunk.delta.content:
                    text += chunk.delta.content
        return text

    async def aclose(self) -> None:
        for task in self._verdicts.values():
            task.cancel()
