"""The Helm chart (deploy/helm/dialroom) lints, renders, and wires every process as it runs.

Helm is the pinned build of stack/install_helm.py (tests/support/helm.py). Each shipped
values file is linted with `--strict` and rendered with `helm template`; the tests
read the rendered manifests.

The environment rule: a Dialroom container's env holds every field of its process's settings
classes (PROCESS_SETTINGS), named exactly as pydantic-settings reads it (the field name in
upper case: the classes have no prefix and no aliases), except LEFT_AT_DEFAULT; and no name
in it is unknown to every settings class (a misspelt variable is silently ignored at run time).
Secrets (SECRET_SETTINGS) come only from the existingSecret, never as a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from api.main import create_app
from api.settings import ApiSettings
from dialroom.paths import ROOT
from dialroom.persona_schema import Limits
from dialroom.settings import CommonSettings
from dispatcher.settings import DispatcherSettings
from stack.install import LIVEKIT_SERVER, LIVEKIT_SIP
from tests.support.helm import CHART, VALUES_FILES, config_maps, helm, objects, pod
from worker.settings import ProviderKeys, WorkerSettings

pytestmark = pytest.mark.unit

HOOK = CHART / "files" / "worker_prestop.py"
PROCESS_SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    "api": (ApiSettings,),
    "dispatcher": (DispatcherSettings,),
    "worker": (WorkerSettings, ProviderKeys),
    "sip-apply": (CommonSettings,),
}
# start.py's readiness file: on Kubernetes the worker's status port is the probe.
LEFT_AT_DEFAULT = {"WORKER_REGISTERED_FILE"}
SECRET_SETTINGS = {
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "REDIS_URL",
    "DATABASE_URL",
    "API_KEYS",
    "WEBHOOK_SECRET",
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AZURE_SPEECH_KEY",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
}
KNOWN_NAMES = {
    name.upper()
    for classes in PROCESS_SETTINGS.values()
    for cls in classes
    for name in cls.model_fields
}


def container_env(values: Path, component: str) -> list[dict[str, Any]]:
    return pod(values, component)["containers"][0]["env"]


def longest_persona_call_s() -> float:
    limits = [
        Limits.model_validate((yaml.safe_load(path.read_text()) or {}).get("limits", {}))
        for path in sorted((ROOT / "agents").glob("*.yaml"))
    ]
    return max(limit.max_call_s for limit in limits)


values_files = pytest.mark.parametrize("values", VALUES_FILES, ids=lambda p: p.name)


@values_files
def test_helm_lint_strict_passes(values: Path) -> None:
    done = helm("lint", "--strict", str(CHART), "-f", str(values))
    assert done.returncode == 0, done.stdout + done.stderr


@values_files
def test_the_chart_renders_every_process(values: Path) -> None:
    deployments = objects(values, "Deployment")
    assert set(deployments) == {"api", "dispatcher", "worker", "sip"}
    assert set(objects(values, "Job")) == {"sip-apply"}
    assert "worker" in objects(values, "PodDisruptionBudget")
    assert "api" in objects(values, "Service")
    assert deployments["dispatcher"]["spec"]["replicas"] == 2
    assert not objects(values, "Secret"), "secrets come from existingSecret only"


def test_default_values_scale_api_and_workers_on_cpu() -> None:
    hpas = objects(CHART / "values.yaml", "HorizontalPodAutoscaler")
    assert set(hpas) == {"api", "worker"}
    for component, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"dialroom-{component}"
        (metric,) = hpa["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert "replicas" not in objects(CHART / "values.yaml", "Deployment")[component]["spec"]


def test_api_probes_ask_the_apis_health_routes() -> None:
    container = pod(CHART / "values.yaml", "api")["containers"][0]
    liveness = container["livenessProbe"]["httpGet"]["path"]
    readiness = container["readinessProbe"]["httpGet"]["path"]
    assert (liveness, readiness) == ("/health", "/health/ready")
    routes = set(create_app(ApiSettings(api_keys="k" * 40)).openapi()["paths"])
    assert {liveness, readiness} <= routes


@values_files
def test_worker_grace_covers_the_longest_call_plus_the_drain(values: Path) -> None:
    chosen = yaml.safe_load(values.read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["worker"]
    drain = chosen.get("worker", {}).get("drainSeconds", defaults["drainSeconds"])
    grace = pod(values, "worker")["terminationGracePeriodSeconds"]
    assert grace >= longest_persona_call_s() + drain
    assert grace >= chosen.get("worker", {}).get("longestCallSeconds", 0) + drain


@values_files
def test_worker_pre_stop_hook_is_the_shipped_drain_script(values: Path) -> None:
    spec = pod(values, "worker")
    command = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert command[:2] == ["python", f"{mounts['hooks']}/{HOOK.name}"]
    (hooks,) = [v for v in spec["volumes"] if v["name"] == "hooks"]
    assert config_maps(values)[hooks["configMap"]["name"]]["data"][HOOK.name] == HOOK.read_text()


@values_files
def test_probes_of_every_dialroom_process(values: Path) -> None:
    for component in ("api", "dispatcher", "worker", "sip"):
        container = pod(values, component)["containers"][0]
        assert container.get("livenessProbe") and container.get("readinessProbe"), component


@values_files
def test_sip_bridge_runs_on_the_host_network(values: Path) -> None:
    spec = pod(values, "sip")
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    names = {e["name"] for e in spec["containers"][0]["env"]}
    assert {"LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "LIVEKIT_WS_URL"} <= names


@values_files
@pytest.mark.parametrize("component", sorted(PROCESS_SETTINGS))
def test_every_setting_reaches_its_process_spelled_as_its_class(
    values: Path, component: str
) -> None:
    names = [entry["name"] for entry in container_env(values, component)]
    assert len(names) == len(set(names)), f"{component}: a variable set twice"
    wanted = {
        field.upper() for cls in PROCESS_SETTINGS[component] for field in cls.model_fields
    } - LEFT_AT_DEFAULT
    assert wanted <= set(names), f"{component} misses {sorted(wanted - set(names))}"
    extra = set(names) - KNOWN_NAMES - trunk_password_keys(values)
    assert not extra, f"{component}: no settings class reads {sorted(extra)}"


def trunk_password_keys(values: Path) -> set[str]:
    return set((yaml.safe_load(values.read_text()).get("sipApply") or {}).get("passwordKeys", []))


@values_files
@pytest.mark.parametrize("component", sorted(PROCESS_SETTINGS))
def test_secrets_come_from_the_existing_secret_only(values: Path, component: str) -> None:
    secret = yaml.safe_load(values.read_text())["existingSecret"]
    for entry in container_env(values, component):
        if entry["name"] in SECRET_SETTINGS | trunk_password_keys(values):
            assert "value" not in entry, entry["name"]
            ref = entry["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (secret, entry["name"])


def test_the_chart_refuses_to_render_without_an_existing_secret() -> None:
    done = helm("template", "dialroom", str(CHART), "--set", "existingSecret=")
    assert done.returncode != 0
    assert "existingSecret" in done.stderr


@values_files
@pytest.mark.parametrize("component", sorted(PROCESS_SETTINGS))
def test_personas_and_prompts_are_mounted_where_the_settings_point(
    values: Path, component: str
) -> None:
    spec = pod(values, component)
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert (env["AGENTS_DIR"], env["PROMPTS_DIR"]) == (mounts["agents"], mounts["prompts"])
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert {"agents", "prompts"} <= set(volumes)


def test_sip_apply_runs_start_py_on_the_mounted_telephony_file() -> None:
    job = objects(CHART / "values.yaml", "Job")["sip-apply"]
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert container["command"] == [
        *("python", "start.py", "sip", "apply", "--file"),
        f"{mounts['telephony']}/telephony.yaml",
    ]


LIVEKIT_VALUES = ROOT / "deploy" / "helm" / "livekit-values.yaml"


def test_livekit_values_match_what_the_dialroom_chart_points_at() -> None:
    """The official chart's fullname is `fullnameOverride`; its Service port is
    loadBalancer.servicePort; the SIP bridge shares livekit-server's Redis."""
    livekit = yaml.safe_load(LIVEKIT_VALUES.read_text())
    dialroom = yaml.safe_load((CHART / "values.yaml").read_text())
    service = f"ws://{livekit['fullnameOverride']}.livekit.svc.cluster.local"
    url = f"{service}:{livekit['loadBalancer']['servicePort']}"
    assert dialroom["settings"]["LIVEKIT_URL"] == url
    assert dialroom["sip"]["config"]["ws_url"] == url
    assert dialroom["sip"]["config"]["redis"] == livekit["livekit"]["redis"]
    assert livekit["storeKeysInSecret"] == {"enabled": True, "existingSecret": "livekit-keys"}
    assert "keys" not in livekit["livekit"], "keys only from the Secret"


def test_images_are_the_versions_dialroom_builds_and_tests() -> None:
    livekit = yaml.safe_load(LIVEKIT_VALUES.read_text())
    sip = yaml.safe_load((CHART / "values.yaml").read_text())["sip"]["image"]
    assert livekit["image"]["tag"] == LIVEKIT_SERVER.version
    assert sip["tag"] == LIVEKIT_SIP.version


def test_livekit_server_offers_calls_to_a_worker_until_it_is_full_everywhere() -> None:
    """A worker's load reaches 1.0 only when its overflow slot is taken (`worker.capacity`);
    livekit-server offers jobs under `agents.target_load` (default 0.7). The local stack's
    config and the chart's values both lift it, or a worker's last lines ring unanswered
    (`tests/e2e/test_capacity.py` shows it over real calls on the local stack)."""
    local = yaml.safe_load((ROOT / "livekit.yaml").read_text())
    chart = yaml.safe_load(LIVEKIT_VALUES.read_text())["livekit"]
    assert local["agents"]["target_load"] == chart["agents"]["target_load"] == 1.0
