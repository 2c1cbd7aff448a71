"""Property-based fuzzing of techpotli-api against its own OpenAPI document (schemathesis).

Starts techpotli-broker, techpotli-registry and techpotli-api (dev auth, rate limiting off,
real Redis under a unique key prefix, a throwaway MariaDB database with the MySQL sink's
migrations applied for the read endpoints) as child processes and runs `schemathesis run` on
/openapi.json with a bounded number of examples per operation. The run fails on any 5xx and
on any response that contradicts the document (status code, content type, body schema).

Binaries come from TECHPOTLI_{BROKER,REGISTRY,API}_BIN (scripts/test.sh sets them), else
${CARGO_TARGET_DIR:-/var/cache/techpotli/target}/debug/<name>.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
import uuid
from urllib.parse import unquote, urlsplit, urlunsplit
from pathlib import Path

import pytest

from conftest import REGISTRY_BIN, Broker, _die_with_parent, free_port

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "/var/cache/techpotli/target"))
API_BIN = Path(os.environ.get("TECHPOTLI_API_BIN", TARGET / "debug" / "techpotli-api"))
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
MIGRATIONS = Path(__file__).resolve().parents[2] / "connectors" / "mysql" / "migrations"
# Examples per operation: 15 operations x 3 phases stays well under two minutes.
MAX_EXAMPLES = 15


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within {timeout}s")
        time.sleep(0.2)


def spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=open(log, "wb"),  # noqa: SIM115 - closed with the process
        env=env,
        preexec_fn=_die_with_parent,
    )


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


# The server and login of `techpotli dev` and the Rust tests: DATABASE_URL's, or the project's
# user that scripts/ensure-services.sh creates (root keeps the machine's own authentication).
DATABASE_URL = urlsplit(
    os.environ.get("DATABASE_URL", "mysql://techpotli:techpotli@127.0.0.1:3306/techpotli")
)


def mariadb(sql: str, database: str | None = None) -> None:
    """Runs `sql` with the MariaDB client as DATABASE_URL's user (scripts/ensure-services.sh)."""
    client = shutil.which("mariadb") or shutil.which("mysql")
    assert client, "the MariaDB client is not installed (scripts/ensure-services.sh installs it)"
    url = DATABASE_URL
    args = [client, "-h", url.hostname or "127.0.0.1", "-P", str(url.port or 3306)]
    if url.username:
        args += ["-u", unquote(url.username)]
    if url.password:
        args.append(f"-p{unquote(url.password)}")
    subprocess.run([*args, *([database] if database else [])], input=sql.encode(), check=True)


@pytest.fixture
def read_model():
    """A database holding the MySQL sink's tables (its migrations, in order), dropped after."""
    name = f"techpotli_pytest_{uuid.uuid4().hex}"
    mariadb(f"CREATE DATABASE {name}")
    try:
        for migration in sorted(MIGRATIONS.glob("*.sql")):
            mariadb(migration.read_text(), name)
        yield urlunsplit(DATABASE_URL._replace(path=f"/{name}"))
    finally:
        mariadb(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def api_url(tmp_path: Path, read_model: str):
    for binary in (REGISTRY_BIN, API_BIN):
        if not binary.is_file():
            pytest.fail(f"{binary} not built: build the workspace first (scripts/test.sh does)")
    broker = Broker(log_dir=tmp_path)
    bootstrap = broker.start()
    registry_port = free_port()
    registry = spawn(
        [str(REGISTRY_BIN), "--listen", f"127.0.0.1:{registry_port}", "--kafka", bootstrap],
        tmp_path / "registry.stderr.log",
    )
    api = None
    try:
        line = registry.stdout.readline().decode()
        assert line.startswith("techpotli-registry listening on"), line
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "KAFKA_BOOTSTRAP": bootstrap,
            "SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{registry_port}",
            "REDIS_URL": REDIS_URL,
            "API_REDIS_PREFIX": f"pytest:{uuid.uuid4().hex}:",
            "API_READ_REDIS_PREFIX": f"pytest-read:{uuid.uuid4().hex}:",
            "DATABASE_URL": read_model,
            "API_LISTEN": f"127.0.0.1:{port}",
            "API_INSECURE_DEV_AUTH": "true",
            "API_SCHEMA_AUTO_REGISTER": "true",
            "API_RATE_LIMIT_DISABLED": "true",
            "API_PAYMENT_WEBHOOK_SECRETS": "fake=whsec_pytest_0123456789",
            "RUST_LOG": "warn",
        }
        api = spawn([str(API_BIN)], tmp_path / "api.stderr.log", env)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", 30)
        wait_http(f"{url}/readyz", 30)
        yield url
        assert stop(api) == 0, (tmp_path / "api.stderr.log").read_text()[-4000:]
        api = None
    finally:
        if api is not None:
            stop(api)
        stop(registry)
        broker.stop()


@pytest.mark.timeout(180)
def test_api_never_5xx_and_conforms_to_its_openapi(api_url: str, tmp_path: Path):
    # The venv's console script (tests/python/requirements.txt pins schemathesis).
    cli = shutil.which("schemathesis", path=sysconfig.get_path("scripts"))
    assert cli, f"schemathesis is not installed in {sys.prefix}: see tests/python/requirements.txt"
    result = subprocess.run(
        [
            cli,
            "run",
            f"{api_url}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            "20261128",
            "--generation-database",
            "none",
            "--request-timeout",
            "10",
            "--workers",
            "2",
            "--max-time",
            "80",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=170,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-12000:]
    # A run that generated nothing would pass vacuously.
    generated = re.search(r"(\d+) generated", out)
    assert generated and int(generated.group(1)) > 0, out[-4000:]
