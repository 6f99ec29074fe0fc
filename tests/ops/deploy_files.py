"""The deploy files as data: the Dockerfile's stages, the compose file, the Kubernetes manifests,
the Prometheus and Grafana provisioning (read only; no Docker engine or cluster needed)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
IMAGE = "llm-gateway"  # the image name the compose file and the manifests run
_COMPOSE_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


@dataclass
class Stage:
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        return self.all(keyword)[-1]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            for pair in shlex.split(args):
                name, _, value = pair.partition("=")
                values[name] = value
        return values

    def exec_form(self, keyword: str) -> list[str]:
        return json.loads(self.last(keyword))


def dockerfile() -> dict[str, Stage]:
    """Stages by name; instructions with their line continuations joined."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    stages: dict[str, Stage] = {}
    current = Stage("")
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            current = Stage(args.split()[-1] if " AS " in args.upper() else args)
            stages[current.name] = current
        current.instructions.append((keyword, args.strip()))
    return stages


def healthcheck_command(stage: Stage) -> list[str]:
    args = stage.last("HEALTHCHECK")
    return json.loads(args[args.index("CMD ") + 4 :])


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_value(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} against `env`."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if env.get(name) or (name in env and not (operator or "").startswith(":")):
            return env[name]
        if operator and operator.endswith("?"):
            raise KeyError(f"compose requires {name}: {argument}")
        return argument or ""

    return _COMPOSE_VAR.sub(substitute, str(value))


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(k): str(v) for k, v in environment.items()}


def published(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """A compose service's `ports` as (host address or "", host port, container port)."""
    found = []
    for entry in service.get("ports", []):
        parts = str(entry).rsplit(":", 2)
        address, host, container = ([""] * (3 - len(parts)) + parts)[-3:]
        found.append((address, host, container))
    return found


def scrape_config(name: str) -> dict[str, Any]:
    """The first scrape job of deploy/prometheus/`name`."""
    config = yaml.safe_load((DEPLOY / "prometheus" / name).read_text())
    return config["scrape_configs"][0]


def gateway_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Compose services that run the gateway image."""
    return {
        name: service
        for name, service in spec["services"].items()
        if service.get("build") or str(service.get("image", "")).startswith(IMAGE)
    }


def manifests() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        documents += [doc | {"__file__": path.name} for doc in yaml.safe_load_all(path.read_text())]
    return documents


def kind(documents: list[dict[str, Any]], kind_: str, name: str | None = None) -> Any:
    found = [d for d in documents if d["kind"] == kind_ and name in (None, d["metadata"]["name"])]
    return found if name is None else found[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def gateway_containers(documents: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(workload name, container) for every container that runs the gateway image."""
    found = []
    for doc in documents:
        if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            for container in pod_spec(doc)["containers"]:
                if container["image"].split(":")[0].endswith(IMAGE):
                    found.append((doc["metadata"]["name"], container))
    return found


def container_argv(container: dict[str, Any], entrypoint: list[str], cmd: list[str]) -> list[str]:
    """What a container runs: Kubernetes' command/args over the image's ENTRYPOINT/CMD."""
    if "command" in container:
        return [*container["command"], *container.get("args", [])]
    return [*entrypoint, *container.get("args", cmd)]
