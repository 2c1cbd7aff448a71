"""Registry interop with another official client: confluent-kafka-go.

`tests/go/registry-interop` (built here with the machine's Go, modules from the Go proxy
cached under ${TECHPOTLI_CACHE:-/var/cache/techpotli}/go) registers a schema with the Go
client, looks it up, checks a compatible and a breaking change, serializes a record with the
client's Avro serde and produces it. `techpotli tail` then decodes that record through our
registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests" / "go" / "registry-interop"
CACHE = Path(os.environ.get("TECHPOTLI_CACHE", "/var/cache/techpotli")) / "go"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "/var/cache/techpotli/target"))
TECHPOTLI_BIN = Path(os.environ.get("TECHPOTLI_CLI_BIN", TARGET / "debug" / "techpotli"))


@pytest.fixture(scope="module")
def go_client() -> Path:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        pytest.fail("Go is not installed (this machine kind ships it at /usr/local/go)")
    binary = CACHE / "bin" / "registry-interop"
    env = {
        **os.environ,
        "GOPATH": str(CACHE),
        "GOMODCACHE": str(CACHE / "mod"),
        "GOCACHE": str(CACHE / "build"),
        "GOFLAGS": "-modcacherw",
        "CGO_ENABLED": "1",
    }
    # Go's own build cache makes a rebuild of unchanged sources take a second.
    build = subprocess.run(
        [go, "build", "-o", str(binary), "."], cwd=SOURCE, env=env, capture_output=True, text=True, timeout=900
    )
    assert build.returncode == 0, build.stderr
    return binary


def test_go_client_registers_serializes_and_tail_decodes(registry, go_client):
    bootstrap, url = registry
    topic = "interop.go-payments"
    out = subprocess.run([str(go_client), url, bootstrap, topic], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    schema_id = json.loads(out.stdout.strip().splitlines()[-1])["schema_id"]
    if not TECHPOTLI_BIN.is_file():
        pytest.fail(f"{TECHPOTLI_BIN} not built: build the workspace first (scripts/test.sh does)")
    tail = subprocess.run(
        [str(TECHPOTLI_BIN), "tail", topic, "--from-beginning", "--max", "1"],
        env={**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "SCHEMA_REGISTRY_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tail.returncode == 0, tail.stderr
    record = json.loads(tail.stdout.strip().splitlines()[-1])
    assert record["schema_id"] == schema_id, record
    assert record["value"] == {"payment_id": "pay-go-1", "amount_minor": 49900, "currency": "INR"}, record
    assert record["key"] == "pay-go-1", record
