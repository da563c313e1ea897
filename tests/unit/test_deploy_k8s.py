"""deploy/k8s: rendered offline (base + overlay, as kustomize would) and validated without a cluster.

Core kinds are validated against the Kubernetes 1.31 OpenAPI schemas (kubernetes-validate, pinned);
KEDA's ScaledObject and TriggerAuthentication ship no schema in a package, so a test checks the
fields we rely on. Names that must agree across the code and the manifests are checked here too:
the queue, ports, HYBRID_* variables against Settings, the Triton replica URLs, the restricted
protocols, the probes and the metric the HPA reads.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hybrid_core.queueing import JOBS_QUEUE
from hybrid_core.settings import PROJECT_ROOT, Settings
from local_stack.triton_server import opentelemetry_trace_args
from triton_client.control import DEFAULT_CONTROL_HEADER, RESTRICTED_PROTOCOLS

K8S = PROJECT_ROOT / "deploy" / "k8s"
OVERLAY = K8S / "overlays" / "gpu"
KUBERNETES_VERSION = "1.31.0"
CLUSTER_SCOPED = {"Namespace"}
Manifest = dict[str, Any]


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge as our patches use it: maps merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(patch)


def render(directory: Path) -> list[Manifest]:
    """The manifests ``kustomize build directory`` gives, for the features our kustomizations use."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    known = {"apiVersion", "kind", "namespace", "resources", "images", "replicas", "patches", "labels"}
    assert set(kustomization) <= known, f"render() does not implement {set(kustomization) - known}"
    manifests: list[Manifest] = []
    for resource in kustomization.get("resources", []):
        path = directory / resource
        if path.is_dir():
            manifests += render(path)
        else:
            manifests += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for label in kustomization.get("labels", []):
        for manifest in manifests:
            manifest["metadata"].setdefault("labels", {}).update(label["pairs"])
    for patch_ref in kustomization.get("patches", []):
        patch = yaml.safe_load((directory / patch_ref["path"]).read_text())
        targets = [
            i
            for i, m in enumerate(manifests)
            if (m["kind"], m["metadata"]["name"]) == (patch["kind"], patch["metadata"]["name"])
        ]
        assert len(targets) == 1, f"patch {patch_ref['path']} matches {len(targets)} resources"
        manifests[targets[0]] = _merge(manifests[targets[0]], patch)
    for replicas in kustomization.get("replicas", []):
        for manifest in manifests:
            if manifest["metadata"]["name"] == replicas["name"] and "replicas" in manifest.get("spec", {}):
                manifest["spec"]["replicas"] = replicas["count"]
    images = {image["name"]: image for image in kustomization.get("images", [])}
    for manifest in manifests:
        for container in _containers(manifest):
            name = container["image"].split(":")[0]
            if name in images:
                container["image"] = f"{images[name]['newName']}:{images[name]['newTag']}"
        namespace = kustomization.get("namespace")
        if namespace and manifest["kind"] not in CLUSTER_SCOPED:
            manifest["metadata"]["namespace"] = namespace
    return manifests


def _containers(manifest: Manifest) -> list[dict[str, Any]]:
    pod = manifest.get("spec", {}).get("template", {}).get("spec", {})
    containers: list[dict[str, Any]] = pod.get("containers", [])
    return containers


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return render(OVERLAY)


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if (m["kind"], m["metadata"]["name"]) == (kind, name)]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def config(manifests: list[Manifest]) -> dict[str, str]:
    data: dict[str, str] = one(manifests, "ConfigMap", "hybrid-config")["data"]
    return data


def test_render_gives_every_component_when_overlay_built(manifests: list[Manifest]) -> None:
    kinds = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    for expected in [
        ("Deployment", "api"),
        ("HorizontalPodAutoscaler", "api"),
        ("Deployment", "worker"),
        ("ScaledObject", "worker"),
        ("StatefulSet", "triton"),
        ("PodDisruptionBudget", "triton"),
        ("NetworkPolicy", "triton-ingress"),
        ("ConfigMap", "grafana-dashboard-hybrid-inference"),
    ]:
        assert expected in kinds
    assert all(
        m["metadata"].get("namespace") == "hybrid-inference" for m in manifests if m["kind"] != "Namespace"
    )


def test_core_manifests_validate_against_kubernetes_schema_when_rendered(manifests: list[Manifest]) -> None:
    core = [m for m in manifests if not m["apiVersion"].startswith("keda.sh/")]
    assert len(core) >= 15
    for manifest in core:
        # Raises ValidationError naming the field; strict: no field the schema does not know.
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_scaled_object_scales_workers_on_celery_queue_when_keda_reads_redis(
    manifests: list[Manifest],
) -> None:
    scaled = one(manifests, "ScaledObject", "worker")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    one(manifests, "Deployment", spec["scaleTargetRef"]["name"])
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == JOBS_QUEUE
    assert int(trigger["metadata"]["listLength"]) > 0
    assert re.fullmatch(r"[\w.-]+:\d+", trigger["metadata"]["address"])
    auth = one(manifests, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    assert {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]} == {"password"}


def test_hybrid_variables_are_settings_fields_when_set_in_manifests(manifests: list[Manifest]) -> None:
    fields = {f"HYBRID_{name.upper()}" for name in Settings.model_fields}
    names = set(config(manifests))
    for manifest in manifests:
        for container in _containers(manifest):
            names |= {env["name"] for env in container.get("env", [])}
    hybrid = {name for name in names if name.startswith("HYBRID_")}
    assert hybrid and hybrid <= fields, hybrid - fields
    Settings.model_validate({k.removeprefix("HYBRID_").lower(): v for k, v in config(manifests).items()})


def test_secret_keys_are_listed_in_env_example_when_referenced(manifests: list[Manifest]) -> None:
    example = (OVERLAY / "secrets.env.example").read_text().splitlines()
    listed = {line.split("=", 1)[0] for line in example if "=" in line}
    referenced = set()
    for manifest in manifests:
        for container in _containers(manifest):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    assert ref["name"] == "hybrid-secrets"
                    referenced.add(ref["key"])
        if manifest["kind"] == "TriggerAuthentication":
            referenced |= {ref["key"] for ref in manifest["spec"]["secretTargetRef"]}
    assert referenced and referenced == listed


def test_triton_urls_name_every_statefulset_replica_when_pool_configured(manifests: list[Manifest]) -> None:
    triton = one(manifests, "StatefulSet", "triton")
    service = one(manifests, "Service", triton["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None"
    grpc_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
    settings = Settings.model_validate({"triton_grpc_urls": config(manifests)["HYBRID_TRITON_GRPC_URLS"]})
    name = triton["metadata"]["name"]
    expected = [
        f"{name}-{k}.{service['metadata']['name']}:{grpc_port}" for k in range(triton["spec"]["replicas"])
    ]
    assert settings.triton_urls == expected


def test_triton_serves_gpu_with_explicit_control_and_restricted_protocols_when_deployed(
    manifests: list[Manifest],
) -> None:
    (container,) = _containers(one(manifests, "StatefulSet", "triton"))
    args = container["args"]
    assert "--model-control-mode=explicit" in args
    rule = f"{','.join(RESTRICTED_PROTOCOLS)}:{DEFAULT_CONTROL_HEADER}=$(TRITON_CONTROL_SECRET)"
    assert f"--grpc-restricted-protocol={rule}" in args and f"--http-restricted-api={rule}" in args
    assert {env["name"] for env in container["env"]} == {"TRITON_CONTROL_SECRET"}
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert {m["mountPath"]: m.get("readOnly") for m in container["volumeMounts"]}["/models"] is True
    api = _containers(one(manifests, "Deployment", "api"))[0]
    assert "HYBRID_TRITON_CONTROL_SECRET" in {env["name"] for env in api["env"]}
    worker = _containers(one(manifests, "Deployment", "worker"))[0]
    assert "HYBRID_TRITON_CONTROL_SECRET" not in {env["name"] for env in worker.get("env", [])}


def test_ports_and_probes_agree_with_settings_when_deployed(manifests: list[Manifest]) -> None:
    settings = config(manifests)
    api = one(manifests, "Deployment", "api")
    (api_container,) = _containers(api)
    assert api_container["ports"][0]["containerPort"] == int(settings["HYBRID_API_PORT"])
    assert api_container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert (
        api["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]
        == settings["HYBRID_API_PORT"]
    )
    worker = one(manifests, "Deployment", "worker")
    (worker_container,) = _containers(worker)
    metrics_port = settings["HYBRID_WORKER_METRICS_PORT"]
    assert worker_container["ports"][0]["containerPort"] == int(metrics_port)
    assert worker["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == metrics_port
    assert worker_container["livenessProbe"]["exec"]["command"] == [
        "python",
        "-m",
        "worker.liveness",
        "--max-age-s",
        "120",
    ]
    assert settings["HYBRID_WORKER_LIVENESS_FILE"] == "/tmp/worker-alive"
    assert "/tmp" in {m["mountPath"] for m in worker_container["volumeMounts"]}  # root is read-only


def test_hpa_reads_cpu_the_api_requests_when_scaling(manifests: list[Manifest]) -> None:
    hpa = one(manifests, "HorizontalPodAutoscaler", "api")
    target = hpa["spec"]["scaleTargetRef"]
    (container,) = _containers(one(manifests, target["kind"], target["name"]))
    (metric,) = hpa["spec"]["metrics"]
    assert (metric["type"], metric["resource"]["name"]) == ("Resource", "cpu")
    assert "cpu" in container["resources"]["requests"]  # utilization is relative to it


def test_only_api_and_workers_reach_triton_grpc_when_network_policies_apply(
    manifests: list[Manifest],
) -> None:
    policy = one(manifests, "NetworkPolicy", "triton-ingress")["spec"]
    grpc_rules = [rule for rule in policy["ingress"] if {"protocol": "TCP", "port": 8001} in rule["ports"]]
    (rule,) = grpc_rules
    (peer,) = rule["from"]
    labels = peer["podSelector"]["matchLabels"]
    clients = [
        m["metadata"]["name"]
        for m in manifests
        if m["kind"] in {"Deployment", "StatefulSet"}
        and labels.items() <= m["spec"]["template"]["metadata"]["labels"].items()
    ]
    assert sorted(clients) == ["api", "worker"]


def test_every_pod_is_non_root_with_requests_and_limits_when_deployed(manifests: list[Manifest]) -> None:
    workloads = [m for m in manifests if m["kind"] in {"Deployment", "StatefulSet"}]
    assert len(workloads) == 3
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
            assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_dashboard_configmap_equals_grafana_dashboard_when_copied(manifests: list[Manifest]) -> None:
    data = one(manifests, "ConfigMap", "grafana-dashboard-hybrid-inference")["data"]
    original = (PROJECT_ROOT / "deploy" / "grafana" / "dashboards" / "hybrid-inference.json").read_text()
    assert data["hybrid-inference.json"] == original
    json.loads(data["hybrid-inference.json"])


def test_triton_exports_its_spans_with_the_local_stack_flags_when_tracing_configured(
    manifests: list[Manifest],
) -> None:
    (container,) = _containers(one(manifests, "StatefulSet", "triton"))
    flags = [arg for arg in container["args"] if arg.startswith("--trace-config")]
    expected = opentelemetry_trace_args("http://collector:4318/v1/traces")
    assert [flag.rsplit("=", 1)[0] for flag in flags] == [flag.rsplit("=", 1)[0] for flag in expected]
    tracing = one(manifests, "ConfigMap", "hybrid-tracing")["data"]
    assert set(re.findall(r"\$\((\w+)\)", " ".join(flags))) <= set(tracing)
    assert {"configMapRef": {"name": "hybrid-tracing"}} in container["envFrom"]
    assert tracing["TRITON_TRACE_LEVEL"] == "OFF", "off unless a collector is configured"
