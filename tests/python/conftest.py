"""Fixtures for the confluent-kafka conformance suite of techpotli-broker.

The broker binary comes from ``TECHPOTLI_BROKER_BIN`` (scripts/test.sh sets it), else
``${CARGO_TARGET_DIR:-/var/cache/techpotli/target}/debug/techpotli-broker``.

Every test gets its own broker process on an ephemeral port, so one test's state or
crash never leaks into the next. Each fixture stops only the process it started, by PID.

With ``TECHPOTLI_TEST_KAFKA`` set to a bootstrap list (CI's Apache Kafka pass), the tests that
speak only the protocol (those taking ``bootstrap``, and the registry's) run against that Kafka
instead, with the same assertions; the tests that drive the embedded broker's process (signals,
restarts, its flags) are skipped there.
"""

from __future__ import annotations

import ctypes
import os
import queue
import re
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

EXTERNAL_KAFKA = os.environ.get("TECHPOTLI_TEST_KAFKA", "").strip()
EMBEDDED_ONLY = "drives the embedded broker's process; not run against the external Kafka"

LISTENING_LINE = re.compile(r"^techpotli-broker listening on (127\.0\.0\.1):(\d+)$")
STARTUP_TIMEOUT_S = 20.0
SHUTDOWN_TIMEOUT_S = 15.0
LOG_TAIL_BYTES = 64 * 1024

# Settings that make failures show within a test's time instead of after librdkafka's
# minute-long defaults.
CLIENT_DEFAULTS = {
    "socket.timeout.ms": 10_000,
    "reconnect.backoff.max.ms": 1_000,
}


def broker_binary() -> Path:
    explicit = os.environ.get("TECHPOTLI_BROKER_BIN")
    if explicit:
        return Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR", "/var/cache/techpotli/target")
    return Path(target) / "debug" / "techpotli-broker"


# Resolved before any fork: the child of a threaded process (librdkafka runs threads)
# must not load libraries between fork and exec.
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _prctl = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL the broker if pytest itself dies."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))


class Broker:
    """One techpotli-broker process; restartable when it has a data dir."""

    def __init__(self, log_dir: Path, data_dir: Path | None = None, extra_args: list[str] | None = None) -> None:
        self.binary = broker_binary()
        self.extra_args = list(extra_args or [])
        self.log_dir = log_dir
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.host = ""
        self.port = 0
        self.starts = 0
        self.log_path: Path | None = None
        self.exit_codes: list[int] = []

    @property
    def bootstrap(self) -> str:
        assert self.proc is not None, "broker is not running"
        return f"{self.host}:{self.port}"

    def start(self) -> str:
        assert self.proc is None, "broker already running"
        if not self.binary.is_file():
            pytest.fail(f"broker binary not found at {self.binary}: build it or set TECHPOTLI_BROKER_BIN")
        self.starts += 1
        self.log_path = self.log_dir / f"broker-{self.starts}.stderr.log"
        args = [str(self.binary), "--listen", "127.0.0.1:0"]
        if self.data_dir is not None:
            args += ["--data-dir", str(self.data_dir)]
        args += self.extra_args
        # Settings come from the command line only, never from the caller's environment.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TECHPOTLI_BROKER_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                preexec_fn=_die_with_parent,
            )
        self.host, self.port = self._await_listening_line()
        return self.bootstrap

    def _await_listening_line(self) -> tuple[str, int]:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()

        def pump() -> None:
            # Keeps draining stdout for the broker's whole life so it never blocks on a pipe.
            for raw in iter(proc.stdout.readline, b""):
                lines.put(raw)
            lines.put(b"")

        threading.Thread(target=pump, name=f"broker-{proc.pid}-stdout", daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        seen: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                pytest.fail(f"broker printed no listening line within {STARTUP_TIMEOUT_S}s; stdout={seen!r}\n{self.log_tail()}")
            try:
                raw = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if raw == b"":
                code = proc.wait()
                self.proc = None
                pytest.fail(f"broker exited with {code} before listening; stdout={seen!r}\n{self.log_tail()}")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            match = LISTENING_LINE.match(line)
            if match:
                return match.group(1), int(match.group(2))
            seen.append(line)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signals the broker (SIGTERM by default), waits, and returns its exit code.

        A broker that does not exit within SHUTDOWN_TIMEOUT_S is killed and -9 is returned.
        """
        proc = self.proc
        if proc is None:
            raise AssertionError("broker is not running")
        self.proc = None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.exit_codes.append(-9)
                return -9
        self.exit_codes.append(proc.returncode)
        return proc.returncode

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no broker log)"
        with open(self.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - LOG_TAIL_BYTES))
            return f.read().decode("utf-8", "replace")


def _attach_log(request: pytest.FixtureRequest, broker: Broker) -> None:
    # Shown by pytest only for a failing test.
    request.node.add_report_section("teardown", "broker stderr (tail)", broker.log_tail())


@pytest.fixture
def broker(tmp_path: Path, request: pytest.FixtureRequest):
    """An in-memory broker on an ephemeral port for this test only."""
    if EXTERNAL_KAFKA:
        pytest.skip(EMBEDDED_ONLY)
    b = Broker(log_dir=tmp_path)
    b.start()
    try:
        yield b
    finally:
        if b.proc is not None:
            b.stop()
        _attach_log(request, b)


@pytest.fixture
def bootstrap(request: pytest.FixtureRequest) -> str:
    """``127.0.0.1:PORT`` of this test's in-memory broker, or the external Kafka."""
    if EXTERNAL_KAFKA:
        return EXTERNAL_KAFKA
    return request.getfixturevalue("broker").bootstrap


@pytest.fixture
def persistent_broker(tmp_path: Path, request: pytest.FixtureRequest):
    """A broker on a temp data dir; ``stop()`` then ``start()`` restarts it on the same data."""
    if EXTERNAL_KAFKA:
        pytest.skip(EMBEDDED_ONLY)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    b = Broker(log_dir=tmp_path, data_dir=data_dir)
    b.start()
    try:
        yield b
    finally:
        if b.proc is not None:
            b.stop()
        _attach_log(request, b)


class Clients:
    """Makes confluent-kafka clients and closes them all at teardown (before the broker stops)."""

    def __init__(self) -> None:
        self._producers: list[Producer] = []
        self._consumers: list[Consumer] = []
        self._admins: list[AdminClient] = []

    def producer(self, bootstrap: str, **conf) -> Producer:
        p = Producer({**CLIENT_DEFAULTS, "bootstrap.servers": bootstrap, **conf})
        self._producers.append(p)
        return p

    def consumer(self, bootstrap: str, group: str | None = None, **conf) -> Consumer:
        base = {
            **CLIENT_DEFAULTS,
            "bootstrap.servers": bootstrap,
            "group.id": group or f"g-{uuid.uuid4().hex[:12]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": 100,
            "session.timeout.ms": 6_000,
            "heartbeat.interval.ms": 500,
            "max.poll.interval.ms": 30_000,
        }
        c = Consumer({**base, **conf})
        self._consumers.append(c)
        return c

    def admin(self, bootstrap: str) -> AdminClient:
        a = AdminClient({**CLIENT_DEFAULTS, "bootstrap.servers": bootstrap})
        self._admins.append(a)
        return a

    def close(self, consumer: Consumer) -> None:
        """Closes one consumer now (leaving its group)."""
        self._consumers.remove(consumer)
        consumer.close()

    def close_all(self) -> None:
        for c in self._consumers:
            try:
                c.close()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        for p in self._producers:
            try:
                p.flush(5)
            except Exception:  # noqa: BLE001
                pass
        self._consumers.clear()
        self._producers.clear()
        self._admins.clear()


@pytest.fixture
def clients(request: pytest.FixtureRequest):
    # Set up after (so torn down before) whichever broker the test uses, so that
    # consumers leave their groups while the broker is still there.
    for fixture in ("broker", "persistent_broker"):
        if fixture in request.fixturenames:
            request.getfixturevalue(fixture)
    c = Clients()
    try:
        yield c
    finally:
        c.close_all()


@pytest.fixture
def name(request: pytest.FixtureRequest):
    """Unique topic / group / transactional-id names for this test: ``name("orders")``."""
    base = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:60]
    suffix = uuid.uuid4().hex[:8]

    def make(kind: str) -> str:
        return f"{base}.{kind}.{suffix}"

    return make


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


REGISTRY_BIN = Path(
    os.environ.get(
        "TECHPOTLI_REGISTRY_BIN",
        Path(os.environ.get("CARGO_TARGET_DIR", "/var/cache/techpotli/target")) / "debug" / "techpotli-registry",
    )
)


@pytest.fixture
def registry(tmp_path: Path):
    """A broker and `techpotli-registry` on it: yields (bootstrap, registry URL)."""
    if not REGISTRY_BIN.is_file():
        pytest.fail(f"{REGISTRY_BIN} not built: run the Rust tests first (scripts/test.sh does)")
    broker = None
    if EXTERNAL_KAFKA:
        bootstrap = EXTERNAL_KAFKA
    else:
        broker = Broker(log_dir=tmp_path)
        bootstrap = broker.start()
    port = free_port()
    log = open(tmp_path / "registry.stderr.log", "wb")
    proc = subprocess.Popen(
        [str(REGISTRY_BIN), "--listen", f"127.0.0.1:{port}", "--kafka", bootstrap],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("techpotli-registry listening on"), line
        yield bootstrap, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
        log.close()
        if broker is not None:
            broker.stop()
