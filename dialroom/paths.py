"""Where Dialroom keeps its files: the repository's data folders and the per-user cache."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENTS_DIR = ROOT / "agents"
PROMPTS_DIR = ROOT / "prompts"
SIP_DIR = ROOT / "sip"
LIVEKIT_CONFIG = ROOT / "livekit.yaml"
SIP_CONFIG = SIP_DIR / "config.yaml"


def cache_dir() -> Path:
    """Per-user cache for built binaries and Go caches, shared by every clone on this machine."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dialroom"
