#!/usr/bin/env bash
# The project's whole check, as CI runs it (.ci/run execs this):
#   services -> python env -> fmt -> clippy -> build -> Rust tests -> Arroyo UDFs ->
#   librdkafka's suite ->
#   Python conformance -> the same suites on Apache Kafka (scripts/apache-kafka-suite.sh:
#   protocol tests, differential tests, end to end, 3-node cluster faults, librdkafka's suite)
#   -> registry interop again with the newest confluent-kafka.
# Stops at the first failing step and exits non-zero.
#
# Environment:
#   CARGO_TARGET_DIR   build output, outside the clone by default so it survives fresh clones
#                      (default /var/cache/techpotli/target)
#   TECHPOTLI_CACHE    cache root for the Python venv (default /var/cache/techpotli)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/techpotli/target}"
case "$CARGO_TARGET_DIR" in
    /*) ;;
    *) CARGO_TARGET_DIR="$root/$CARGO_TARGET_DIR" ;;
esac
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Incremental caches only help edit-compile loops; in CI they cost gigabytes of disk per run.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
trap 'printf "\n==> FAILED (exit %s): %s\n" "$?" "$BASH_COMMAND" >&2' ERR

step "services: MariaDB and Redis"
scripts/ensure-services.sh

step "python env"
# shellcheck source=scripts/python-env.sh
source scripts/python-env.sh
"$TECHPOTLI_PYTHON" -c 'import confluent_kafka, pytest; print("confluent-kafka", confluent_kafka.version(), "/ librdkafka", confluent_kafka.libversion()[0], "/ pytest", pytest.__version__)'

step "build cache: drop stale executables (scripts/prune-target.sh)"
scripts/prune-target.sh "$CARGO_TARGET_DIR"

step "cargo fmt --all --check"
cargo fmt --all --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build --workspace --bins --examples"
cargo build --workspace --bins --examples

# The runner is cargo-nextest (a process per test, so one test's panic, environment or stray
# thread cannot touch another), pinned and installed once into the cache; cargo test only if
# that install fails.
readonly NEXTEST_VERSION=0.9.151
tools="${TECHPOTLI_CACHE:-/var/cache/techpotli}/tools"
export PATH="$tools/bin:$PATH"
if ! cargo nextest --version 2>/dev/null | grep -qF "cargo-nextest $NEXTEST_VERSION"; then
    step "install cargo-nextest $NEXTEST_VERSION into $tools (once; reused by later runs)"
    CARGO_TARGET_DIR="$tools/build" cargo install --locked --quiet --root "$tools" \
        --version "$NEXTEST_VERSION" cargo-nextest \
        || echo "test.sh: WARNING: installing cargo-nextest failed; falling back to cargo test" >&2
    rm -rf "$tools/build"
fi

if command -v cargo-nextest >/dev/null 2>&1; then
    step "cargo nextest run --workspace"
    cargo nextest run --workspace --no-fail-fast --no-tests=warn
    # nextest does not run doctests.
    step "cargo test --workspace --doc"
    cargo test --workspace --doc
else
    step "cargo test --workspace (cargo-nextest not found)"
    cargo test --workspace --no-fail-fast
fi

# The pricing functions as Arroyo UDFs: a crate of its own (arroyo-udf-plugin pins arrow 51;
# edition 2021) with its own lock file and build cache. `cargo test` builds one cdylib per UDF
# and calls each library's entry point as the Arroyo host does.
udf_target="$(dirname "$CARGO_TARGET_DIR")/udf-target"
step "Arroyo UDFs (udf/pricing): fmt, clippy, cdylibs + entry-point tests"
cargo fmt --manifest-path udf/pricing/Cargo.toml --check
CARGO_TARGET_DIR="$udf_target" cargo clippy --manifest-path udf/pricing/Cargo.toml --locked --all-targets -- -D warnings
CARGO_TARGET_DIR="$udf_target" cargo test --manifest-path udf/pricing/Cargo.toml --locked

step "librdkafka's own test suite vs the embedded broker (scripts/librdkafka-suite.sh; --full for the long list)"
scripts/librdkafka-suite.sh

step "pytest tests/python (confluent-kafka vs broker and registry; confluent-kafka-go vs the registry; deploy files; schemathesis vs the API)"
export TECHPOTLI_BROKER_BIN="$CARGO_TARGET_DIR/debug/techpotli-broker"
export TECHPOTLI_REGISTRY_BIN="$CARGO_TARGET_DIR/debug/techpotli-registry"
export TECHPOTLI_INTEROP_BIN="$CARGO_TARGET_DIR/debug/examples/interop"
export TECHPOTLI_API_BIN="$CARGO_TARGET_DIR/debug/techpotli-api"
export TECHPOTLI_CLI_BIN="$CARGO_TARGET_DIR/debug/techpotli"
if [ ! -x "$TECHPOTLI_BROKER_BIN" ]; then
    echo "test.sh: broker binary not found at $TECHPOTLI_BROKER_BIN" >&2
    exit 1
fi
"$TECHPOTLI_PYTHON" -m pytest -q tests/python

step "Apache Kafka (KRaft, from Maven Central): the suites again, differential tests, cluster faults (scripts/apache-kafka-suite.sh)"
scripts/apache-kafka-suite.sh

step "pytest registry interop with the newest confluent-kafka (tests/python/requirements-newest.txt)"
export TECHPOTLI_PY_REQUIREMENTS=tests/python/requirements-newest.txt TECHPOTLI_VENV_NAME=venv-newest
# shellcheck source=scripts/python-env.sh
source scripts/python-env.sh
unset TECHPOTLI_PY_REQUIREMENTS TECHPOTLI_VENV_NAME
"$TECHPOTLI_PYTHON" -c 'import confluent_kafka; print("confluent-kafka", confluent_kafka.version())'
"$TECHPOTLI_PYTHON" -m pytest -q tests/python/test_registry_interop.py

step "all checks passed"
