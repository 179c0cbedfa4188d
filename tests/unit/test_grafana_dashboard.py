"""The shipped Grafana dashboard queries only metrics that /metrics declares: renaming a
metric (or a histogram's type) without the dashboard fails here, not on a blank panel."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry

from api.routes.metrics import Snapshot, SnapshotCollector, exposition
from dialroom.paths import ROOT

DASHBOARD = ROOT / "deploy" / "grafana" / "dialroom.json"
METRIC = re.compile(r"\bdialroom_[a-z0-9_]+")
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def declared() -> set[str]:
    """Every series name /metrics can expose, from its collector with nothing measured yet."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(Snapshot()))
    return {
        family.name + suffix for family in registry.collect() for suffix in SUFFIXES[family.type]
    }


def queries(node: Any) -> Iterator[str]:
    """The PromQL of every panel target and template variable."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            elif key == "query" and isinstance(value, str | dict):
                yield from ([value] if isinstance(value, str) else queries(value))
            else:
                yield from queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from queries(item)


def test_every_metric_the_dashboard_queries_is_declared() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    used = {name for query in queries(dashboard) for name in METRIC.findall(query)}
    assert used, "the dashboard queries no Dialroom metric"
    assert sorted(used - declared()) == []


def test_the_dashboard_shows_the_new_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    text = " ".join(queries(dashboard))
    for family in (
        "dialroom_live_calls",
        "dialroom_stage_latency_seconds",
        "dialroom_provider_errors_total",
        "dialroom_webhook_failures_total",
        "dialroom_queue_wait_seconds",
    ):
        assert family in text, family


def test_the_exposition_declares_every_family_with_nothing_measured() -> None:
    text = exposition(Snapshot()).decode()
    for name in ("live_calls", "stage_latency_seconds", "queue_wait_seconds"):
        assert f"# TYPE dialroom_{name} " in text
    assert "# TYPE dialroom_provider_errors_total counter" in text
    assert "# TYPE dialroom_webhook_failures_total counter" in text
