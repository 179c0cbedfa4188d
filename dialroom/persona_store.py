"""Personas as they are on disk now: re-read when edited, the last good version kept on a mistake.

An operator edits `agents/<name>.yaml` (or its prompt) while calls are running; the next call
uses the edit, no restart. A broken edit is logged once and ignored until it is fixed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from dialroom.paths import AGENTS_DIR, PROMPTS_DIR
from dialroom.persona import Persona, PersonaError, available, load_persona, persona_path

logger = logging.getLogger("dialroom.personas")

# (mtime_ns, size) of a file, or None where there is no file.
_FileStamp = tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class _Stamp:
    persona: _FileStamp
    prompt: _FileStamp


@dataclass(frozen=True, slots=True)
class _Entry:
    stamp: _Stamp
    prompt_file: str | None  # as the file on disk names it, good or broken
    persona: Persona  # the last good version
    prompt: str  # its prompt text, validated with it


class PersonaStore:
    """Hands out the current good version of each persona.

    `get(name)` looks at the persona file's and its prompt file's modification time and
    size; when either changed it reads and validates the persona again. A broken edit logs
    one line on the `dialroom.personas` logger and `get` keeps returning the last good
    version until the file is fixed. `PersonaError` is raised only for a persona that never
    had a good version in this store. A deleted file counts as a broken edit.

    Calls in progress are never touched: each call holds the `Persona` object it was given,
    and that object is frozen; a reload makes a new object for the calls that start after it.
    """

    def __init__(self, *, agents_dir: Path = AGENTS_DIR, prompts_dir: Path = PROMPTS_DIR) -> None:
        self.agents_dir = agents_dir
        self.prompts_dir = prompts_dir
        self._entries: dict[str, _Entry] = {}

    def get(self, name: str) -> Persona:
        """The persona as its file says now, or its last good version if the file is broken."""
        return self._current(name).persona

    def prompt(self, name: str) -> str:
        """The prompt text validated with the persona `get(name)` returns ("" for flow personas).

        Use this rather than re-reading the file, so a broken prompt edit never reaches a call.
        """
        return self._current(name).prompt

    def check_all(self) -> tuple[list[Persona], list[PersonaError]]:
        """Validate every `agents/*.yaml` as it is on disk now (the good versions kept by `get`
        play no part): the personas that load and the errors of those that do not."""
        good: list[Persona] = []
        broken: list[PersonaError] = []
        for name in available(self.agents_dir):
            try:
                good.append(self._load(name))
            except PersonaError as err:
                broken.append(err)
        return good, broken

    def _current(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is not None and self._stamp(name, entry.prompt_file) == entry.stamp:
            return entry
        if entry is None and name not in available(self.agents_dir):
            self._load(name)  # an unknown or invalid name: raises the error that says which
        prompt_file = _declared_prompt(persona_path(name, self.agents_dir))
        stamp = self._stamp(name, prompt_file)  # taken before reading: a later edit is seen
        try:
            persona, prompt = self._load_with_prompt(name)
        except PersonaError as err:
            if entry is None:
                raise
            logger.warning("%s (still using the last good version)", err)
            self._entries[name] = _Entry(stamp, prompt_file, entry.persona, entry.prompt)
            return self._entries[name]
        if entry is not None:
            logger.info("persona %s reloaded", name)
        self._entries[name] = _Entry(stamp, prompt_file, persona, prompt)
        return self._entries[name]

    def _load(self, name: str) -> Persona:
        return load_persona(name, agents_dir=self.agents_dir, prompts_dir=self.prompts_dir)

    def _load_with_prompt(self, name: str) -> tuple[Persona, str]:
        persona = self._load(name)
        if persona.prompt is None:
            return persona, ""
        try:
            return persona, (self.prompts_dir / persona.prompt).read_text()
        except OSError as err:  # removed since it was validated
            path = persona_path(name, self.agents_dir)
            raise PersonaError(path, "prompt", f"prompts/{persona.prompt}: {err}") from err

    def _stamp(self, name: str, prompt_file: str | None) -> _Stamp:
        prompt = _file_stamp(self.prompts_dir / prompt_file) if prompt_file else None
        return _Stamp(_file_stamp(persona_path(name, self.agents_dir)), prompt)


def _file_stamp(path: Path) -> _FileStamp:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _declared_prompt(path: Path) -> str | None:
    """The `prompt:` a persona file names, even a broken one, so fixing the prompt is seen."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    prompt = data.get("prompt") if isinstance(data, dict) else None
    return prompt if isinstance(prompt, str) else None
