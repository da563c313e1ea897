"""The production compose file, its Dockerfiles and its Prometheus config agree with the code.

No Docker engine is needed: the files are parsed and cross-checked against ``Settings``, the
CLI and each other; ``docker compose config`` runs where a compose client is installed.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hybrid_cli.main import build_parser
from hybrid_core.settings import Settings
from local_stack.triton_server import opentelemetry_trace_args
from triton_client.control import RESTRICTED_PROTOCOLS, ControlKey

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DEPLOY_DIR = REPO_ROOT / "deploy"
DOCKERFILES = {"api": DEPLOY_DIR / "api.Dockerfile", "worker": DEPLOY_DIR / "worker.Dockerfile"}
PROMETHEUS_CONFIG = DEPLOY_DIR / "prometheus" / "prometheus.yml"
PROMETHEUS_LOCAL_CONFIG = DEPLOY_DIR / "prometheus" / "prometheus.local.yml"

SERVICES = {"triton", "redis", "postgres", "kafka", "api", "worker", "prometheus", "grafana"}
SERVED_MODELS = {"lstm_timeseries", "lstm_timeseries_onnx", "moving_average"}
SECRET_VARIABLES = {
    "POSTGRES_PASSWORD",
    "HYBRID_ADMIN_TOKEN",
    "GF_SECURITY_ADMIN_PASSWORD",
    "HYBRID_TRITON_CONTROL_SECRET",
    "REDISCLI_AUTH",
}
REQUIRED_SECRETS = {
    "POSTGRES_PASSWORD",
    "REDIS_PASSWORD",
    "HYBRID_ADMIN_TOKEN",
    "TRITON_CONTROL_SECRET",
    "GRAFANA_ADMIN_PASSWORD",
}
PUBLIC_SERVICES = {"api"}
"""The only services that may publish a port on every interface of the host."""
INTERNAL_SERVICES = {"triton", "redis", "postgres", "kafka", "prometheus", "worker"}
ALLOWED_CAPABILITIES: dict[str, set[str]] = {
    # Their entrypoints start as root, fix the data folder's owner and mode, then switch user.
    "redis": {"CHOWN", "DAC_OVERRIDE", "SETGID", "SETUID"},
    "postgres": {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"},
}
# Extras that pull torch, onnxruntime or the tritonserver wheel: never in a service image.
HEAVY_EXTRAS = {"export", "local", "bench", "dev"}
VARIABLE_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
DEFAULTED_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}")
REQUIRED_VARIABLE = re.compile(r"\$\{(\w+):\?[^}]+\}")


def _load_yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict), f"{path} is not a mapping"
    return loaded


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def _env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.split("=", 1)[0])
    return names


def _container_ports(service: dict[str, Any]) -> set[int]:
    ports = {int(str(port).rsplit(":", 1)[-1]) for port in service.get("ports", [])}
    return ports | {int(port) for port in service.get("expose", [])}


def _published(service: dict[str, Any]) -> list[tuple[str, int]]:
    """(host address, container port) of each published port; ``${VAR:-default}`` as its default."""
    published = []
    for port in service.get("ports", []):
        spec = DEFAULTED_VARIABLE.sub(lambda match: match.group(1), str(port))
        parts = spec.split(":")
        # "CONTAINER", "HOST:CONTAINER" or "ADDRESS:HOST:CONTAINER"; no address means every interface.
        address = parts[0] if len(parts) == 3 else "0.0.0.0"
        published.append((address, int(parts[-1].split("/")[0])))
    return published


def _mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    """Volumes of a service in the long form, whichever form the file uses."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts.append(volume)
            continue
        source, target, *mode = str(volume).split(":")
        kind = "bind" if source.startswith((".", "/")) else "volume"
        mounts.append({"type": kind, "source": source, "target": target, "read_only": mode == ["ro"]})
    return mounts


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return list(command) if isinstance(command, list) else str(command).split()


def test_compose_file_defines_every_service_when_parsed(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_compose_images_are_pinned_when_not_built(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and "$" not in tag, f"{name}: {image} is not pinned"


def test_compose_hybrid_variables_are_settings_fields_when_set(services: dict[str, dict[str, Any]]) -> None:
    names = set(VARIABLE_REFERENCE.findall(COMPOSE_FILE.read_text()))
    for service in services.values():
        names |= set(_environment(service))
    hybrid = {name for name in names if name.startswith("HYBRID_")}
    assert hybrid, "the compose file sets no HYBRID_* variable"
    unknown = {name for name in hybrid if name.removeprefix("HYBRID_").lower() not in Settings.model_fields}
    assert not unknown, f"not fields of hybrid_core.settings.Settings: {sorted(unknown)}"


def test_compose_variables_are_listed_in_env_example_when_referenced() -> None:
    referenced = set(VARIABLE_REFERENCE.findall(COMPOSE_FILE.read_text()))
    missing = referenced - _env_example_names()
    assert not missing, f"add to .env.example: {sorted(missing)}"


def test_compose_secrets_are_variable_references_when_set(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key, value in _environment(service).items():
            if key in SECRET_VARIABLES:
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", value), f"{name}: {key} must be ${{VAR:?msg}}"
    database_url = _environment(services["api"])["HYBRID_DATABASE_URL"]
    assert "${POSTGRES_PASSWORD:?" in database_url


def test_compose_dependencies_have_healthchecks_when_waited_for(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dependency, rule in depends_on.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if rule.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"


def test_api_and_worker_wait_for_healthy_backends_when_started(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("api", "worker"):
        depends_on = services[name]["depends_on"]
        for backend in ("redis", "postgres", "triton"):
            assert depends_on[backend] == {"condition": "service_healthy"}, f"{name} -> {backend}"
    # The API migrates the schema before it is ready, so workers never race through a migration.
    assert services["worker"]["depends_on"]["api"] == {"condition": "service_healthy"}


def test_compose_named_volumes_are_declared_when_mounted(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for mount in _mounts(service):
            if mount["type"] == "volume":
                assert mount["source"] in declared, f"{name}: volume {mount['source']} is not declared"
    for name in ("postgres", "prometheus", "grafana"):
        kinds = {mount["type"] for mount in _mounts(compose["services"][name])}
        assert "volume" in kinds, f"{name} keeps its data outside a named volume"


def test_triton_serves_canonical_repository_when_started(services: dict[str, dict[str, Any]]) -> None:
    triton = services["triton"]
    assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3", triton["image"])
    command = _command(triton)
    assert command[0] == "tritonserver"
    assert "--model-repository=/models" in command
    assert "--model-control-mode=explicit" in command
    assert "--strict-readiness=true" in command
    loaded = {arg.split("=", 1)[1] for arg in command if arg.startswith("--load-model=")}
    assert loaded == SERVED_MODELS
    mount = next(m for m in _mounts(triton) if m["target"] == "/models")
    assert mount["type"] == "bind"
    assert mount["source"] == "./model_repository"
    assert mount["read_only"] is True
    assert _container_ports(triton) >= {8000, 8001, 8002}
    assert "/v2/health/ready" in " ".join(triton["healthcheck"]["test"])


def test_triton_reserves_gpu_when_deployed(services: dict[str, dict[str, Any]]) -> None:
    devices = services["triton"]["deploy"]["resources"]["reservations"]["devices"]
    assert any(d["driver"] == "nvidia" and "gpu" in d["capabilities"] for d in devices)


def test_only_api_publishes_on_every_interface_when_started(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for address, port in _published(service):
            if name in PUBLIC_SERVICES:
                continue
            assert address == "127.0.0.1", f"{name} publishes {port} on {address}, not only on loopback"
    assert _published(services["api"]) == [("0.0.0.0", 8080)]
    for name in INTERNAL_SERVICES - {"prometheus"}:
        assert not services[name].get("ports"), f"{name} publishes a host port"


def test_grafana_binds_loopback_by_default_when_grafana_bind_unset(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["grafana"]["ports"] == ["${GRAFANA_BIND:-127.0.0.1}:3000:3000"]
    assert _published(services["grafana"]) == [("127.0.0.1", 3000)]


def test_triton_restricts_control_protocols_to_api_when_started(
    services: dict[str, dict[str, Any]],
) -> None:
    command = _command(services["triton"])
    header = Settings.model_fields["triton_control_header"].default
    expected = ControlKey(header, "x" * 32).server_args()
    restricting = ("--grpc-restricted-protocol", "--http-restricted-api")
    flags = [arg for arg in command if arg.startswith(restricting)]
    assert [flag.rsplit("=", 1)[0] for flag in flags] == [arg.rsplit("=", 1)[0] for arg in expected]
    assert set(RESTRICTED_PROTOCOLS) >= {"model-repository", "shared-memory", "logging", "trace"}
    secrets = {REQUIRED_VARIABLE.fullmatch(flag.rsplit("=", 1)[1]) for flag in flags}
    assert {match.group(1) if match else None for match in secrets} == {"TRITON_CONTROL_SECRET"}
    api_secret = _environment(services["api"])["HYBRID_TRITON_CONTROL_SECRET"]
    assert api_secret.startswith("${TRITON_CONTROL_SECRET:?")
    assert "HYBRID_TRITON_CONTROL_HEADER" not in _environment(services["api"]), "the default is in the flags"
    assert "HYBRID_TRITON_CONTROL_SECRET" not in _environment(services["worker"]), "workers never load models"


def test_redis_requires_password_when_clients_connect(services: dict[str, dict[str, Any]]) -> None:
    command = _command(services["redis"])
    password = command[command.index("--requirepass") + 1]
    assert password.startswith("${REDIS_PASSWORD:?")
    for name in ("api", "worker"):
        url = _environment(services[name])["HYBRID_REDIS_URL"]
        assert url.startswith("redis://:${REDIS_PASSWORD:?") and url.endswith("}@redis:6379/0"), name
    healthcheck = services["redis"]["healthcheck"]["test"]
    assert "PONG" in " ".join(healthcheck), "redis-cli exits 0 on NOAUTH: the check must look for PONG"
    assert _environment(services["redis"])["REDISCLI_AUTH"] == password


def test_services_drop_capabilities_when_started(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service.get("cap_drop") == ["ALL"], f"{name} keeps the default capabilities"
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        added = set(service.get("cap_add", []))
        assert added <= ALLOWED_CAPABILITIES.get(name, set()), f"{name} adds {sorted(added)}"


def test_triton_runs_as_non_root_when_started(services: dict[str, dict[str, Any]]) -> None:
    user = str(services["triton"].get("user", "root"))
    assert user.split(":")[0] not in {"root", "0"}
    mount = next(m for m in _mounts(services["triton"]) if m["target"] == "/models")
    assert mount["read_only"] is True


def test_env_example_lists_every_required_secret_when_copied() -> None:
    assert _env_example_names() >= REQUIRED_SECRETS
    required = set(REQUIRED_VARIABLE.findall(COMPOSE_FILE.read_text()))
    assert required == REQUIRED_SECRETS


def test_api_and_worker_read_model_repository_when_settings_point_there(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("api", "worker"):
        service = services[name]
        repository = _environment(service)["HYBRID_MODEL_REPOSITORY"]
        mount = next(m for m in _mounts(service) if m["target"] == repository)
        assert (mount["source"], mount["read_only"]) == ("./model_repository", True), name


def test_api_and_worker_are_scalable_when_scaled_with_compose(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "worker"):
        assert "container_name" not in services[name], f"{name} has a fixed container name"
    assert not services["worker"].get("ports"), "worker publishes host ports; --scale would collide"


def test_compose_commands_parse_when_given_to_the_cli(services: dict[str, dict[str, Any]]) -> None:
    api = _command(services["api"])
    worker = _command(services["worker"])
    assert api == ["hybrid-inference", "api", "--host", "0.0.0.0"]
    assert worker == ["hybrid-inference", "worker"]
    for argv in (api, worker):
        args = build_parser([argv[1]]).parse_args(argv[1:])
        assert callable(args.handler)


def test_prometheus_targets_match_compose_ports_when_scraped(services: dict[str, dict[str, Any]]) -> None:
    jobs = {job["job_name"]: job for job in _load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]}
    assert set(jobs) >= {"prometheus", "triton", "api", "worker"}
    for job_name in ("triton", "api"):
        for target in jobs[job_name]["static_configs"][0]["targets"]:
            host, port = target.rsplit(":", 1)
            assert host in services, f"{job_name}: {host} is not a compose service"
            assert int(port) in _container_ports(services[host]), f"{job_name}: {target}"
    assert int(_environment(services["api"])["HYBRID_API_PORT"]) == 8080
    worker_sd = jobs["worker"]["dns_sd_configs"][0]
    assert worker_sd["names"] == ["worker"]
    assert worker_sd["port"] in _container_ports(services["worker"])
    worker_env = _environment(services["worker"])
    assert int(worker_env["HYBRID_WORKER_METRICS_PORT"]) == worker_sd["port"]
    assert worker_env["HYBRID_METRICS_HOST"] == "0.0.0.0", "a loopback bind is unreachable from Prometheus"
    mounted = {m["source"]: m["target"] for m in _mounts(services["prometheus"])}
    config_flag = f"--config.file={mounted['./deploy/prometheus/prometheus.yml']}"
    assert config_flag in _command(services["prometheus"])


def test_local_prometheus_targets_use_settings_defaults_when_stack_runs_locally() -> None:
    jobs = {job["job_name"]: job for job in _load_yaml(PROMETHEUS_LOCAL_CONFIG)["scrape_configs"]}
    fields = Settings.model_fields
    expected = {
        "triton": f"127.0.0.1:{fields['triton_metrics_port'].default}",
        "api": f"127.0.0.1:{fields['api_port'].default}",
    }
    for job_name, target in expected.items():
        assert jobs[job_name]["static_configs"][0]["targets"] == [target]
    workers = jobs["worker"]["static_configs"][0]["targets"]
    assert workers[0] == "127.0.0.1:9101"
    assert all(target.startswith("127.0.0.1:") for target in workers)


def _stages(dockerfile: Path) -> list[tuple[str, list[str]]]:
    """(FROM line, instructions) of each stage; continuation lines are joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    stages: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append((line, []))
        elif stages:
            stages[-1][1].append(line)
    return stages


@pytest.mark.parametrize("role", sorted(DOCKERFILES))
def test_dockerfile_runs_as_non_root_when_built(role: str) -> None:
    stages = _stages(DOCKERFILES[role])
    assert len(stages) >= 2, f"{role}: not multi-stage"
    assert re.search(r"\bAS builder\b", stages[0][0], re.IGNORECASE)
    runtime = stages[-1][1]
    users = [line.split()[1] for line in runtime if line.upper().startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}, f"{role}: runtime runs as root"
    assert any(line.startswith("COPY --from=builder /opt/venv") for line in runtime)
    assert any(line.startswith("HEALTHCHECK ") for line in runtime)
    base = re.search(r"ARG PYTHON_IMAGE=(\S+)", DOCKERFILES[role].read_text())
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base.group(1))


@pytest.mark.parametrize("role", sorted(DOCKERFILES))
def test_dockerfile_installs_only_service_extra_when_built(role: str) -> None:
    installs = [line for _, lines in _stages(DOCKERFILES[role]) for line in lines if "pip install" in line]
    assert installs, f"{role}: nothing installed"
    extras = {
        extra
        for line in installs
        for group in re.findall(r"\.\[([^\]]*)\]", line)
        for extra in group.split(",")
    }
    assert extras == {"service"}
    assert not extras & HEAVY_EXTRAS
    for line in installs:
        assert not re.search(r"torch|onnxruntime|pytriton", line), f"{role}: {line}"


def test_service_extra_has_no_torch_when_installed_in_images() -> None:
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["service"]
    assert not [r for r in requirements if re.match(r"(torch|onnxruntime|nvidia-pytriton)\b", r)]


def _project_imports(package: str, packages: set[str]) -> set[str]:
    found = set()
    for path in (REPO_ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
    return found & packages


@pytest.mark.parametrize("role", sorted(DOCKERFILES))
def test_dockerfile_copies_every_package_when_services_import_it(role: str) -> None:
    text = DOCKERFILES[role].read_text()
    copied = set(re.findall(r"^COPY (\w+) \./\1$", text, re.MULTILINE))
    project_packages = {p.name for p in REPO_ROOT.iterdir() if (p / "__init__.py").is_file()} - {"tests"}
    needed = {"hybrid_cli", "operation_server", "worker"}
    pending = set(needed)
    while pending:
        imported = _project_imports(pending.pop(), project_packages)
        pending |= imported - needed
        needed |= imported
    assert needed <= copied, f"{role}: missing {sorted(needed - copied)}"
    ignore = (DEPLOY_DIR / f"{role}.Dockerfile.dockerignore").read_text()
    for package in copied:
        assert f"!{package}/" in ignore, f"{role}: {package} is excluded from the build context"


def _compose_client() -> list[str] | None:
    """``docker compose`` (v2 plugin) where it works, else ``docker-compose``, else None."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def _compose_config(client: list[str], env_file: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _env_example_names()}
    return subprocess.run(
        [*client, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "--quiet"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_config_is_valid_when_env_example_is_used() -> None:
    client = _compose_client()
    if client is None:
        pytest.skip("no compose client: neither `docker compose` nor `docker-compose` is installed")
    result = _compose_config(client, ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr


def test_compose_config_refuses_when_secret_is_unset(tmp_path: Path) -> None:
    client = _compose_client()
    if client is None:
        pytest.skip("no compose client: neither `docker compose` nor `docker-compose` is installed")
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _compose_config(client, empty)
    assert result.returncode != 0
    assert any(name in result.stderr for name in REQUIRED_SECRETS), result.stderr


def test_worker_liveness_probe_checks_the_consumer_file_when_deployed(
    services: dict[str, dict[str, Any]],
) -> None:
    worker = services["worker"]
    probe = " ".join(worker["healthcheck"]["test"])
    assert "worker.liveness" in probe
    assert _environment(worker)["HYBRID_WORKER_LIVENESS_FILE"]
    assert worker["restart"] == "unless-stopped"
    redis_command = [str(arg) for arg in services["redis"]["command"]]
    assert redis_command[redis_command.index("--appendfsync") + 1] == "everysec"


def test_triton_exports_its_spans_with_the_local_stack_flags_when_tracing_configured(
    services: dict[str, dict[str, Any]],
) -> None:
    flags = [arg for arg in _command(services["triton"]) if arg.startswith("--trace-config")]
    expected = opentelemetry_trace_args("http://collector:4318/v1/traces")
    assert [flag.rsplit("=", 1)[0] for flag in flags] == [flag.rsplit("=", 1)[0] for flag in expected]
    assert "--trace-config=level=OFF" in flags, "off until turned on through the trace protocol"
