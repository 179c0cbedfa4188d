"""Helm, built from its Go module for the chart checks (tests/unit/test_helm_chart.py).

Only the test suite needs it (`start.py install --test-tools`). It is built like livekit-server
(stack/install.py: a throwaway module requiring the pinned version, Go's caches in the per-user
cache) and kept as `~/.cache/dialroom/bin/helm-<version>`, so a second clone or a CI run on the
same machine reuses it. v3 because the chart is an apiVersion v2 chart that Helm 3 and 4 both
read; v3.21.4 is the newest v3 the module proxy here serves and approves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stack.install import GoBinary

VERSION = "v3.21.4"


def helm_binary() -> GoBinary:
    # Imported here: stack.install imports this module for its --test-tools hook.
    from stack.install import GoBinary

    return GoBinary(
        name="helm",
        module="helm.sh/helm/v3",
        package="helm.sh/helm/v3/cmd/helm",
        version=VERSION,
    )


def helm_path() -> Path:
    """Where the pinned Helm lives once built (it may not be there yet)."""
    return helm_binary().path


def ensure_helm(progress: Callable[[str], None]) -> list[str]:
    """Build Helm into the cache unless it is there; return what was done."""
    binary = helm_binary()
    if binary.path.is_file():
        return []
    from stack.install import build_go_binary

    build_go_binary(binary, progress)
    return [f"built {binary.name} {binary.version}"]


if __name__ == "__main__":
    print(ensure_helm(lambda line: print(line, flush=True)) or [f"{helm_path()} already built"])
