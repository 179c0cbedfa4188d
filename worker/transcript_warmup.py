"""Built once in the worker's forkserver (listed in `worker.preload`), so no call builds it.

livekit-agents times the agent's words to its audio (the transcript synchronizer, which is what
cuts an interrupted reply in the call record to what the caller heard) and, for that, splits
words into syllables with a hyphenator it builds from its pattern table on first use: 20 ms of
CPU on an idle box, 0.1-0.2 s on a loaded one, on the call's event loop, right as the greeting's
audio is handed to the room (`bench/README.md`, "Known lines"). Built here, every call process
is forked with it. Its speaking-rate estimate is swapped for the one-pass one here too
(`worker.speaking_rate`), so its check runs once per worker, not once per call.
"""

from __future__ import annotations

from livekit.agents import tokenize

from worker import speaking_rate

tokenize.basic.hyphenate_word("greeting")
speaking_rate.install()
