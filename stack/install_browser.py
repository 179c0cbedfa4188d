"""Chromium, from Debian, for the console's browser tests (tests/e2e/test_console.py).

Only the test suite needs it (`start.py install --test-tools`). Playwright (a dev
dependency from PyPI) drives this browser through `executable_path`; `playwright install`,
which downloads browsers of its own, is never run.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

PACKAGE = "chromium"
DEFAULT_PATH = Path("/usr/bin/chromium")


def browser_path() -> Path:
    """Where Debian's Chromium is (it may not be installed yet)."""
    found = shutil.which(PACKAGE)
    return Path(found) if found else DEFAULT_PATH


def browser_version() -> str | None:
    """`chromium --version`'s first line, or None when it does not run."""
    path = browser_path()
    if not path.is_file():
        return None
    done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=60)
    lines = done.stdout.strip().splitlines()
    return lines[0] if done.returncode == 0 and lines else None


def ensure_browser(progress: Callable[[str], None]) -> list[str]:
    """Install Debian's Chromium unless it is there and runs; return what was done."""
    from stack.install import InstallError, install_apt_packages, missing_apt_packages

    missing = missing_apt_packages((PACKAGE,))
    install_apt_packages(missing, progress)
    progress("checking chromium")
    if (version := browser_version()) is None:
        raise InstallError(f"{browser_path()} does not run: reinstall the `chromium` package")
    return [f"apt: {PACKAGE} ({version})"] if missing else []


if __name__ == "__main__":
    print(ensure_browser(lambda line: print(line, flush=True)) or [browser_version()])
