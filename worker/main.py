"""The Dialroom agent worker's command line: `python -m worker.main start` (start.py runs it
NUM_AGENTS times; `--help` lists livekit-agents' commands). The worker is `worker.server`.

This module is kept to the command line because multiprocessing runs the main module again in
every call process the forkserver forks (as `__mp_main__`). All it imports is preloaded there
(`worker.preload`), so that costs a call process nothing; the worker's own imports ran in each
one for ~0.7 s of CPU (the call history's SQLAlchemy), as the pool refilled during a burst.
"""

from __future__ import annotations

from livekit.agents import cli

from worker import apology
from worker.greeting_cache import warm_in_background
from worker.providers import shared_speech
from worker.server import server, settings

if __name__ == "__main__":  # the worker's own process only, never a call process
    apology.render_cached()
    # in a process of its own, off the call path: the greetings every call of a persona says
    warm_in_background(settings.greeting_cache_root, settings.agents_dir, settings.prompts_dir)
    shared_speech.register_if_used(settings.agents_dir, settings.prompts_dir)
    cli.run_app(server)
