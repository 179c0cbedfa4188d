"""Carry a Go module's own `replace` directives into the throwaway module that builds it.

Go honours `replace` only in the main module's go.mod. stack/install.py builds each binary
from a throwaway module that merely requires the pinned version, so without this step the
forks a module's authors build with are silently dropped and plain upstream packages are
compiled in their place. livekit-server from v1.13.6 on replaces pion/webrtc, pion/dtls and
pion/ice with LiveKit's "warp" forks: built without them, v1.13.11 fails with
`se.EnableSped undefined`, an error that says nothing about the cause. With the directives
carried over, the build uses exactly the forks upstream ships, or fails naming the fork the
module proxy does not serve (see README, "Troubleshooting").
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def replaces_in(go: str, go_mod: Path, env: dict[str, str]) -> list[str]:
    """The `-replace` arguments (`old[@v]=new@v`) for the module replaces `go_mod` declares.

    Replacements by a local directory are left out: they point into the author's checkout,
    which a module download does not contain.
    """
    edit = subprocess.run(
        [go, "mod", "edit", "-json", str(go_mod)], env=env, capture_output=True, text=True
    )
    if edit.returncode != 0:
        return []
    replaces = json.loads(edit.stdout).get("Replace") or []
    return [_replace_arg(r["Old"], r["New"]) for r in replaces if r["New"].get("Version")]


def _replace_arg(old: dict[str, str], new: dict[str, str]) -> str:
    old_ref = f"{old['Path']}@{old['Version']}" if old.get("Version") else old["Path"]
    return f"{old_ref}={new['Path']}@{new['Version']}"


def dependency_go_mod(go: str, module_ref: str, work: Path, env: dict[str, str]) -> Path | None:
    """Download `module_ref`'s go.mod into Go's cache; None when that fails (the build
    step that follows then reports the failure with its own message)."""
    done = subprocess.run(
        [go, "mod", "download", "-json", module_ref],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    try:
        path = json.loads(done.stdout).get("GoMod")
    except json.JSONDecodeError:
        return None
    return Path(path) if done.returncode == 0 and path else None


def copy_replaces(go: str, module_ref: str, work: Path, env: dict[str, str]) -> list[str]:
    """Add `module_ref`'s (`module@version`) replaces to the build module in `work`; return
    them, for the build log."""
    go_mod = dependency_go_mod(go, module_ref, work, env)
    args = replaces_in(go, go_mod, env) if go_mod else []
    if args:
        edit = [go, "mod", "edit", *(f"-replace={arg}" for arg in args)]
        subprocess.run(edit, cwd=work, env=env, check=True, capture_output=True)
    return args
