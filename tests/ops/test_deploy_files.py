"""Deploy files agree with the code: commands, flags, ports, variables, probe paths and metric
names all exist. (No Docker engine or cluster here: the files are checked, not run; the image's
command is run in a venv by test_image_entrypoint.py.)"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import httpx
import pytest
import yaml

from gateway import metrics
from gateway.app import create_app
from gateway.cli import build_parser
from gateway.config import Settings, build_settings, load_settings
from gateway.ledger import NullLedger
from tests.ops import deploy_files as files

SETTINGS_VARS = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields} - {
    "GATEWAY_PROVIDERS",
    "GATEWAY_MODELS",
    "GATEWAY_WORKLOADS",  # only in the config file
}
DOCUMENTED_VARS = {"GATEWAY_CONFIG"}  # the config file's path (README "Configuration")
DEFAULT_PORT = Settings.model_fields["port"].default
RUNTIME = files.dockerfile()["runtime"]
ENTRYPOINT, CMD = RUNTIME.exec_form("ENTRYPOINT"), RUNTIME.exec_form("CMD")
DOCS = files.manifests()
COMPOSE = files.compose()
CONFIG_MAP = files.kind(DOCS, "ConfigMap", "gateway-env")["data"]
API = files.kind(DOCS, "Deployment", "gateway-api")
(API_CONTAINER,) = files.pod_spec(API)["containers"]


def every_yaml() -> list[Path]:
    return [files.ROOT / "docker-compose.yml", *sorted(files.DEPLOY.rglob("*.y*ml"))]


@pytest.mark.parametrize("path", every_yaml(), ids=lambda p: str(p.relative_to(files.ROOT)))
def test_yaml_parses(path: Path) -> None:
    assert all(doc is not None for doc in yaml.safe_load_all(path.read_text()))


def gateway_argvs() -> dict[str, list[str]]:
    argvs = {"Dockerfile": [*ENTRYPOINT, *CMD]}
    for name, service in files.gateway_services(COMPOSE).items():
        command = service.get("command", CMD)
        argvs[f"compose:{name}"] = [*ENTRYPOINT, *command]
    for name, container in files.gateway_containers(DOCS):
        argvs[f"kubernetes:{name}"] = files.container_argv(container, ENTRYPOINT, CMD)
    return argvs


@pytest.mark.parametrize(("where", "argv"), gateway_argvs().items(), ids=list(gateway_argvs()))
def test_commands_are_real_gateway_commands(where: str, argv: list[str]) -> None:
    assert argv[0] == "gateway", (where, argv)
    try:
        build_parser().parse_args(argv[1:])
    except SystemExit as exc:
        pytest.fail(f"{where}: `{' '.join(argv)}` is not a valid gateway command ({exc})")


def test_every_role_is_deployed() -> None:
    argvs = gateway_argvs()
    assert argvs["compose:migrate"][1] == "migrate"
    assert argvs["compose:gateway"][1:3] == ["serve", "--no-worker"]
    assert argvs["compose:worker"][1] == "worker"
    assert argvs["kubernetes:gateway-migrate"][1] == "migrate"
    assert argvs["kubernetes:gateway-api"][1:3] == ["serve", "--no-worker"]
    assert argvs["kubernetes:gateway-worker"][1] == "worker"
    assert set(COMPOSE["services"]) >= {
        "gateway",
        "worker",
        "migrate",
        "postgres",
        "redis",
        "prometheus",
        "grafana",
    }
    assert COMPOSE["services"]["gateway"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }


def gateway_env_vars() -> dict[str, set[str]]:
    found = {"Dockerfile": set(RUNTIME.env()), "kubernetes:gateway-env": set(CONFIG_MAP)}
    for name, service in files.gateway_services(COMPOSE).items():
        found[f"compose:{name}"] = set(files.compose_environment(service))
    for name, container in files.gateway_containers(DOCS):
        found[f"kubernetes:{name}"] = {item["name"] for item in container.get("env", [])}
    return found


@pytest.mark.parametrize(
    ("where", "names"), gateway_env_vars().items(), ids=list(gateway_env_vars())
)
def test_gateway_variables_are_settings(where: str, names: set[str]) -> None:
    unknown = {n for n in names if n.startswith("GATEWAY_")} - SETTINGS_VARS - DOCUMENTED_VARS
    assert not unknown, f"{where} sets variables the gateway does not read: {sorted(unknown)}"


COMPOSE_SECRETS = {"GATEWAY_ADMIN_KEY": "admin", "GATEWAY_METRICS_TOKEN": "scrape"}


@pytest.mark.parametrize("service", ["gateway", "worker", "migrate"])
def test_compose_environment_makes_valid_settings(service: str) -> None:
    spec = COMPOSE["services"][service]
    env = RUNTIME.env() | {
        k: files.compose_value(v, COMPOSE_SECRETS)
        for k, v in files.compose_environment(spec).items()
    }
    settings = load_settings(env=env)
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.redis_url == "redis://redis:6379/0" and settings.admin_key is not None
    assert settings.metrics_token is not None
    assert settings.host == "0.0.0.0"  # not loopback: the gateway in compose never runs open
    for name in COMPOSE_SECRETS:  # no default admin key or metrics token
        with pytest.raises(KeyError, match=name):
            files.compose_value(files.compose_environment(spec)[name], {})


def test_compose_publishes_monitoring_on_loopback_only() -> None:
    for name in ("prometheus", "grafana", "postgres", "redis"):
        for address, _, _ in files.published(COMPOSE["services"][name]):
            assert address == "127.0.0.1", (name, address)
    assert files.published(COMPOSE["services"]["prometheus"])
    assert files.published(COMPOSE["services"]["grafana"])


def test_compose_grafana_needs_a_password_and_no_anonymous_access() -> None:
    env = files.compose_environment(COMPOSE["services"]["grafana"])
    with pytest.raises(KeyError, match="GRAFANA_ADMIN_PASSWORD"):
        files.compose_value(env["GF_SECURITY_ADMIN_PASSWORD"], {})
    given = {"GRAFANA_ADMIN_PASSWORD": "p"}
    assert files.compose_value(env["GF_SECURITY_ADMIN_PASSWORD"], given) == "p"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_compose_prometheus_sends_the_metrics_token() -> None:
    prometheus = COMPOSE["services"]["prometheus"]
    (secret,) = prometheus["secrets"]
    assert COMPOSE["secrets"][secret] == {"environment": "GATEWAY_METRICS_TOKEN"}
    auth = files.scrape_config("prometheus.yml")["authorization"]
    assert auth.get("type", "Bearer") == "Bearer"
    assert auth["credentials_file"] == f"/run/secrets/{secret}"
    gateway = files.compose_environment(COMPOSE["services"]["gateway"])
    assert "GATEWAY_METRICS_TOKEN" in gateway["GATEWAY_METRICS_TOKEN"]


def test_kubernetes_prometheus_sends_the_metrics_token() -> None:
    env = {item["name"]: item for item in API_CONTAINER["env"]}
    ref = env["GATEWAY_METRICS_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == "gateway-secrets" and not ref.get("optional")
    auth = files.scrape_config("prometheus-kubernetes.yml")["authorization"]
    assert auth.get("type", "Bearer") == "Bearer"
    assert auth["credentials_file"].endswith(f"/{ref['name']}/{ref['key']}")


@pytest.mark.parametrize("workload", ["gateway-api", "gateway-worker"])
def test_kubernetes_config_makes_valid_settings(workload: str) -> None:
    (container,) = files.pod_spec(files.kind(DOCS, "Deployment", workload))["containers"]
    secrets = {item["name"]: f"secret-{item['name']}" for item in container["env"]}
    refs = [item["valueFrom"]["secretKeyRef"] for item in container["env"]]
    assert {ref["name"] for ref in refs} == {"gateway-secrets"}
    assert {ref["configMapRef"]["name"] for ref in container["envFrom"]} == {"gateway-env"}
    config = files.kind(DOCS, "ConfigMap", "gateway-config")["data"]["gateway.yaml"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert CONFIG_MAP["GATEWAY_CONFIG"] == f"{mount['mountPath']}/gateway.yaml"
    settings = build_settings(yaml.safe_load(config), CONFIG_MAP | secrets)
    assert settings.port == int(CONFIG_MAP["GATEWAY_PORT"]) and settings.workloads
    assert settings.host == "0.0.0.0" and settings.workloads[0].keys  # never open
    if workload == "gateway-api":  # the pods Prometheus scrapes
        assert settings.metrics_token is not None


def test_ports_agree() -> None:
    image_port = int(RUNTIME.env()["GATEWAY_PORT"])
    assert image_port == DEFAULT_PORT == int(RUNTIME.last("EXPOSE"))
    compose_port = int(files.compose_environment(COMPOSE["services"]["gateway"])["GATEWAY_PORT"])
    published = [p.split(":")[-1] for p in COMPOSE["services"]["gateway"]["ports"]]
    assert published == [str(compose_port)]
    scrape = yaml.safe_load((files.DEPLOY / "prometheus/prometheus.yml").read_text())
    (target,) = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert target == f"gateway:{compose_port}"
    (port,) = API_CONTAINER["ports"]
    assert port["containerPort"] == int(CONFIG_MAP["GATEWAY_PORT"])
    annotations = API["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == port["containerPort"]
    service = files.kind(DOCS, "Service", "gateway")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [port["name"]]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert API_CONTAINER[probe]["httpGet"]["port"] in (port["name"], port["containerPort"])


def probe_paths() -> list[str]:
    paths = [API_CONTAINER[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")]
    paths.append(API["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"])
    healthcheck = " ".join(files.healthcheck_command(RUNTIME))
    paths += re.findall(r"(/[a-z]+)'", healthcheck)
    scrape = yaml.safe_load((files.DEPLOY / "prometheus/prometheus.yml").read_text())
    paths.append(scrape["scrape_configs"][0]["metrics_path"])
    return paths


async def test_probe_paths_are_routes() -> None:
    paths = probe_paths()
    assert {"/readyz", "/healthz", "/metrics"} <= set(paths)
    assert API_CONTAINER["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert API_CONTAINER["livenessProbe"]["httpGet"]["path"] == "/healthz"
    app = create_app(load_settings(env={}), NullLedger())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        for path in paths:
            # Not started here: /readyz answers 503, which is still the route answering.
            assert (await client.get(path)).status_code in (200, 503), path
        assert (await client.get("/no-such-probe")).status_code == 404


def test_selectors_and_targets_agree() -> None:
    api_labels = API["spec"]["template"]["metadata"]["labels"]
    worker = files.kind(DOCS, "Deployment", "gateway-worker")
    worker_labels = worker["spec"]["template"]["metadata"]["labels"]
    for deployment in (API, worker):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    service_selector = files.kind(DOCS, "Service", "gateway")["spec"]["selector"]
    pdb_selector = files.kind(DOCS, "PodDisruptionBudget", "gateway-api")["spec"]["selector"]
    for selector in (service_selector, pdb_selector["matchLabels"]):
        assert selector.items() <= api_labels.items()
        assert not selector.items() <= worker_labels.items()  # the worker serves no traffic
    hpa = files.kind(DOCS, "HorizontalPodAutoscaler", "gateway-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "gateway-api",
    }
    assert (
        hpa["spec"]["minReplicas"]
        >= files.kind(DOCS, "PodDisruptionBudget")[0]["spec"]["minAvailable"] + 1
    )
    kustomization = yaml.safe_load((files.KUBERNETES / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {d["__file__"] for d in DOCS if d["kind"] != "Kustomization"}
    assert kustomization["images"][0]["name"] == files.IMAGE


def test_shutdown_fits_in_the_termination_grace() -> None:
    grace = Settings.model_validate(
        {"shutdown_grace": CONFIG_MAP["GATEWAY_SHUTDOWN_GRACE"]}
    ).shutdown_grace
    pre_stop = int(API_CONTAINER["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert files.pod_spec(API)["terminationGracePeriodSeconds"] > pre_stop + grace
    compose_grace = files.compose_environment(COMPOSE["services"]["gateway"])
    compose_seconds = Settings.model_validate(
        {"shutdown_grace": compose_grace["GATEWAY_SHUTDOWN_GRACE"]}
    ).shutdown_grace
    assert int(COMPOSE["services"]["gateway"]["stop_grace_period"].rstrip("s")) > compose_seconds


def exported() -> dict[str, set[str]]:
    """Sample names the gateway exports -> their label names."""
    names: dict[str, set[str]] = {}
    for wrapper in vars(metrics).values():
        if not hasattr(wrapper, "_labelnames") or not hasattr(wrapper, "_type"):
            continue
        labels = set(wrapper._labelnames)
        base = wrapper._name
        suffixes = {
            "counter": ["_total"],
            "gauge": [""],
            "histogram": ["_bucket", "_sum", "_count"],
        }[wrapper._type]
        for suffix in suffixes:
            names[base + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return names


def grafana_queries() -> list[str]:
    dashboard = json.loads((files.DEPLOY / "grafana/dashboards/gateway.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queries += [v["query"]["query"] for v in dashboard["templating"]["list"]]
    return queries


@pytest.mark.parametrize("query", grafana_queries())
def test_grafana_queries_use_exported_metrics(query: str) -> None:
    known = exported()
    used = re.findall(r"\b(gateway_[a-z_]+)\b(\{[^}]*\})?", query)
    assert used, query
    labels: set[str] = set()
    for name, selector in used:
        assert name in known, f"{name} is not exported by the gateway"
        matchers = set(re.findall(r"([a-z_]+)\s*=~?", selector))
        assert matchers <= known[name], (name, matchers - known[name])
        labels |= known[name]
    for group in re.findall(r"\bby\s*\(([^)]*)\)", query):
        grouped = {label.strip() for label in group.split(",")}
        assert grouped <= labels, (query, grouped - labels)
    for label in re.findall(r"label_values\([a-z_]+,\s*([a-z_]+)\)", query):
        assert label in labels


def test_grafana_shows_the_dashboards_figures() -> None:
    used = set(re.findall(r"gateway_[a-z_]+", " ".join(grafana_queries())))
    assert used >= {
        "gateway_cost_usd_total",
        "gateway_cancelled_cost_usd_total",
        "gateway_batch_savings_usd_total",
        "gateway_tokens_total",
        "gateway_time_to_first_token_seconds_bucket",
        "gateway_output_tokens_per_second_bucket",
        "gateway_upstream_abort_seconds_bucket",
        "gateway_batch_queue_depth",
        "gateway_requests_total",
        "gateway_ledger_pending",
    }


def test_grafana_provisioning_fits_compose() -> None:
    grafana = COMPOSE["services"]["grafana"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in grafana["volumes"] if m.startswith("./")}
    for source in mounts.values():
        assert (files.ROOT / source).exists(), source
    datasources = yaml.safe_load(
        (files.DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    (source,) = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in COMPOSE["services"]
    providers = yaml.safe_load(
        (files.DEPLOY / "grafana/provisioning/dashboards/gateway.yml").read_text()
    )
    path = providers["providers"][0]["options"]["path"]
    assert mounts[path] == "./deploy/grafana/dashboards"
    dashboard = json.loads((files.DEPLOY / "grafana/dashboards/gateway.json").read_text())
    uids = {p["datasource"]["uid"] for p in dashboard["panels"] if p["type"] != "row"}
    assert uids == {source["uid"]}
    prometheus = COMPOSE["services"]["prometheus"]
    for volume in prometheus["volumes"]:
        if volume.startswith("./"):
            assert (files.ROOT / volume.split(":")[0]).exists()


def test_kubernetes_scrape_config_keeps_the_api_pods() -> None:
    config = yaml.safe_load((files.DEPLOY / "prometheus/prometheus-kubernetes.yml").read_text())
    relabel = config["scrape_configs"][0]["relabel_configs"]
    keep = {tuple(r["source_labels"]): r["regex"] for r in relabel if r.get("action") == "keep"}
    labels = API["spec"]["template"]["metadata"]["labels"]
    assert (
        keep[("__meta_kubernetes_pod_label_app_kubernetes_io_name",)]
        == labels["app.kubernetes.io/name"]
    )
    annotations = API["spec"]["template"]["metadata"]["annotations"]
    assert (
        keep[("__meta_kubernetes_pod_annotation_prometheus_io_scrape",)]
        == annotations["prometheus.io/scrape"]
    )


def operations_section() -> str:
    readme = (files.ROOT / "README.md").read_text()
    return readme.split("## Operations\n", 1)[1].split("\n## ", 1)[0]


def test_readme_deploy_section_matches_the_files() -> None:
    section = operations_section()
    for path in re.findall(r"`((?:deploy/|tests/ops/)[\w/.-]+)`", section):
        assert (files.ROOT / path).exists(), path
    assert (files.ROOT / "Dockerfile").exists() and (files.ROOT / "docker-compose.yml").exists()
    documented = set(re.findall(r"--from-literal=([a-z-]+)=", section)) | {"etl-key"}
    referenced = {
        item["valueFrom"]["secretKeyRef"]["key"]
        for _, container in files.gateway_containers(DOCS)
        for item in container.get("env", [])
    }
    assert documented == referenced
    for service in re.findall(r"`(\w+)`(?: \(|,)", section.split("**docker compose**")[1][:600]):
        assert service in COMPOSE["services"], service
    suffix = {"counter": "", "gauge": "", "histogram": "_bucket"}
    table = re.findall(r"^\| `(gateway_[a-z_]+)` \| (\w+) \|([^|]*)\|", section, re.M)
    listed = {}
    for name, type_, labels in table:
        sample = name + suffix[type_]
        listed[sample] = {label.strip(" `") for label in labels.split(",") if label.strip()}
    known = exported()
    assert listed.keys() == {
        n
        for n in known
        if n.endswith(("_total", "_bucket"))
        or n in {
            "gateway_batch_queue_depth", "gateway_ledger_pending",
            "gateway_ledger_dead_letter_rows", "gateway_deployment_in_flight",
            "gateway_deployment_healthy", "gateway_budget_remaining_usd",
        }
    }
    for sample, labels in listed.items():
        assert labels == known[sample] - {"le"}, sample
    for variable in re.findall(r"`(GATEWAY_[A-Z_]+)", section):
        assert variable in SETTINGS_VARS | DOCUMENTED_VARS, variable


def test_dockerignore_keeps_what_the_build_copies() -> None:
    ignored = [
        line.strip()
        for line in (files.ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    build = files.dockerfile()["build"]
    copied = [p for args in build.all("COPY") for p in args.split()[:-1]]
    assert copied, "the build stage copies nothing"
    for path in copied:
        assert (files.ROOT / path).exists(), path
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in ignored), path
    for secret_or_local in (".git", ".venv", ".env", "gateway.db*", "*.spool", "gateway.yaml"):
        assert secret_or_local in ignored


def test_the_api_pods_keep_the_call_journal_on_a_volume() -> None:
    """With a Postgres ledger the call journal and the spool default to the working directory;
    under a read-only root filesystem it must be a writable volume, or a crashed gateway
    cannot journal (nor replay after its restart)."""
    workdir = RUNTIME.last("WORKDIR")
    assert workdir in json.loads(RUNTIME.last("VOLUME"))
    mount = next(m for m in API_CONTAINER["volumeMounts"] if m["mountPath"] == workdir)
    assert not mount.get("readOnly")
    (volume,) = [v for v in files.pod_spec(API)["volumes"] if v["name"] == mount["name"]]
    assert {"emptyDir", "persistentVolumeClaim"} & set(volume)
