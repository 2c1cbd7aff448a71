"""What the deployment-file checks share: where the files are, what the stack promises, and
how to load them (YAML, the commented ROADMAP block of docker-compose.yml, the Keycloak realm,
the workspace's binaries from `cargo metadata --no-deps`, which compiles nothing).

Docker cannot run on the project's machines, so docker-compose.yml, deploy/Dockerfile and
deploy/** are checked by reading them: test_deploy_compose.py (compose, Keycloak, Dockerfile),
test_deploy_observability.py (Prometheus, Grafana), test_deploy_k8s.py (kustomize). No network,
no broker: fast and deterministic.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import textwrap
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "k8s"
GRAFANA = DEPLOY / "grafana"
KEYCLOAK_REALM = DEPLOY / "keycloak" / "techpotli-realm.json"

ROADMAP_BEGIN = "# ---- BEGIN ROADMAP"
ROADMAP_END = "# ---- END ROADMAP"

# Infra service -> the image repository it must run (tags may move; they must be pinned).
INFRA_IMAGES = {
    "kafka": "apache/kafka",
    "schema-registry": "confluentinc/cp-schema-registry",
    "mysql": "mysql",
    "redis": "redis",
    "elasticsearch": "docker.elastic.co/elasticsearch/elasticsearch",
    "prometheus": "prom/prometheus",
    "grafana": "grafana/grafana",
    "keycloak": "quay.io/keycloak/keycloak",
}
# All of them promise a healthcheck (each image ships a client for one).
HEALTHCHECKED = set(INFRA_IMAGES)

# Binaries that exist only for dev and tests: the compose stack runs Apache Kafka and
# Confluent Schema Registry instead.
DEV_ONLY_BINARIES = {"techpotli-broker", "techpotli-registry"}

# The long-running project services DESIGN.md plans; each is a real compose service or is
# listed in the ROADMAP block.
PLANNED_SERVICES = {
    "techpotli-api",
    "techpotli-pricing",
    "techpotli-inventory",
    "techpotli-order-saga",
    "techpotli-notifications",
    "techpotli-search-indexer",
    "techpotli-analytics",
}

# The one value each shared setting has inside the compose network.
COMPOSE_ENV = {
    "KAFKA_BOOTSTRAP": "kafka:9092",
    "SCHEMA_REGISTRY_URL": "http://schema-registry:8081",
    "DATABASE_URL": "mysql://techpotli:techpotli@mysql:3306/techpotli",
    "REDIS_URL": "redis://redis:6379",
    "ELASTICSEARCH_URL": "http://elasticsearch:9200",
}

# The ingress API's authentication (api/src/config.rs): the dev switch that turns it off, and
# what the compose stack's Keycloak realm must provide for the API's checks to pass.
INSECURE_DEV_AUTH = "API_INSECURE_DEV_AUTH"
REALM = "techpotli"
API_AUDIENCE = "techpotli-api"
STOREFRONT_CLIENT = "storefront"
REALM_ROLES = {"admin", "customer"}
KEYCLOAK_IMPORT_DIR = "/opt/keycloak/data/import/"

DEPENDS_ON_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash"}


# ---------------------------------------------------------------------------------------
# loading


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def deploy_yaml_files() -> list[Path]:
    files = sorted({*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")})
    return [COMPOSE_FILE, *files]


def load_all(path: Path) -> list:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def load_one(path: Path):
    docs = load_all(path)
    assert len(docs) == 1, f"{rel(path)}: expected one YAML document, found {len(docs)}"
    return docs[0]


@cache
def compose() -> dict:
    return load_one(COMPOSE_FILE)


@cache
def roadmap() -> dict:
    """The commented ROADMAP block of docker-compose.yml, uncommented and parsed.

    Inside the block, "##" lines are prose and a bare "#" is a blank line; every other line is
    "# " followed by compose YAML, indented as it will be once uncommented.
    """
    lines = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
    begins = [i for i, line in enumerate(lines) if line.lstrip().startswith(ROADMAP_BEGIN)]
    ends = [i for i, line in enumerate(lines) if line.lstrip().startswith(ROADMAP_END)]
    assert len(begins) == 1 and len(ends) == 1 and begins[0] < ends[0], (
        f"docker-compose.yml needs exactly one '{ROADMAP_BEGIN}' ... '{ROADMAP_END}' block"
    )
    out = []
    for n, line in enumerate(lines[begins[0] + 1 : ends[0]], start=begins[0] + 2):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith("##") or stripped in ("", "#"):
            out.append("")
        elif stripped.startswith("# "):
            out.append(indent + stripped[2:])
        else:
            pytest.fail(f"docker-compose.yml:{n}: ROADMAP lines must be comments, got {line!r}")
    parsed = yaml.safe_load(textwrap.dedent("\n".join(out))) or {}
    assert isinstance(parsed, dict), "the ROADMAP block must be a mapping of services"
    return parsed


@cache
def workspace_binaries() -> frozenset[str]:
    cargo = shutil.which("cargo")
    assert cargo, "cargo is not on PATH: needed for `cargo metadata` (it compiles nothing)"
    proc = subprocess.run(
        [cargo, "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"cargo metadata failed:\n{proc.stderr}"
    meta = json.loads(proc.stdout)
    return frozenset(
        target["name"]
        for package in meta["packages"]
        for target in package["targets"]
        if "bin" in target["kind"]
    )


def depends_on_map(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: {"condition": "service_started"} for name in deps}
    return {name: (spec or {"condition": "service_started"}) for name, spec in deps.items()}


def env_map(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def compose_value(value: str) -> str:
    """The value compose gives `${NAME:-default}` (or `${NAME-default}`) when NAME is unset."""
    m = re.fullmatch(r"\$\{(\w+)(:?-)(.*)\}", value)
    return m.group(3) if m else value


@cache
def realm() -> dict:
    return json.loads(KEYCLOAK_REALM.read_text(encoding="utf-8"))


def executables(command) -> set[str]:
    """The programs a compose command/entrypoint runs (each command of an `sh -c` script)."""
    if command is None:
        return set()
    if isinstance(command, str):
        return script_executables(command)
    if len(command) >= 3 and command[0] in SHELLS and command[1] == "-c":
        return script_executables(command[2])
    return {command[0]} if command else set()


def script_executables(script: str) -> set[str]:
    found = set()
    for segment in re.split(r"&&|\|\||[;|\n]", script):
        words = shlex.split(segment)
        if words:
            found.add(words[0])
    return found


def service_executables(services: dict) -> set[str]:
    return {
        exe
        for svc in services.values()
        for exe in executables(svc.get("command")) | executables(svc.get("entrypoint"))
    }
