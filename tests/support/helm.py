"""The Helm chart (deploy/helm/dialroom) as `helm template` renders it, for the chart tests.

Helm is the pinned build of stack/install_helm.py (`start.py install --test-tools`); a missing
build fails the tests with the command that makes it.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dialroom.paths import ROOT
from stack.install_helm import helm_path

CHART = ROOT / "deploy" / "helm" / "dialroom"
VALUES_FILES = [CHART / "values.yaml", *sorted((CHART / "examples").glob("*.yaml"))]


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    binary = helm_path()
    if not binary.is_file():
        pytest.fail(
            f"helm is not built ({binary}): run `python start.py install --test-tools`",
            pytrace=False,
        )
    return subprocess.run(
        [str(binary), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"},
    )


@functools.cache
def rendered(values: Path) -> tuple[dict[str, Any], ...]:
    done = helm("template", "dialroom", str(CHART), "-f", str(values))
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def objects(values: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Rendered objects of one kind, by component label."""
    found = {}
    for doc in rendered(values):
        if doc["kind"] == kind:
            component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
            found[component] = doc
    return found


def pod(values: Path, component: str) -> dict[str, Any]:
    workloads = {**objects(values, "Deployment"), **objects(values, "Job")}
    return workloads[component]["spec"]["template"]["spec"]


def config_maps(values: Path) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in rendered(values) if d["kind"] == "ConfigMap"}
