#!/usr/bin/env bash
# The same suites again, against Apache Kafka (KRaft, pinned in scripts/kafka/pom.xml, started
# by scripts/kafka.sh) instead of the embedded broker:
#   1. the Rust tests that speak only the protocol (broker, runtime) and the Python conformance
#      suite, with the differential tests (embedded vs Kafka, observations equal), on one shared
#      node (TECHPOTLI_TEST_KAFKA=<bootstrap>); the sinks' tests on a node each;
#   2. the end-to-end suite, each test on a private node (TECHPOTLI_TEST_KAFKA=apache), and
#      the cluster fault test on a 3-node cluster (`faults`);
#   3. librdkafka's suite (scripts/librdkafka-suite.sh) against a node with 4 partitions per
#      auto-created topic, as the embedded run has.
# Each part prints its runner's summary; the last line is this script's own. Exits non-zero on
# any failure. When Maven cannot serve Apache Kafka, it says so and exits 0 (the embedded runs
# stand; nothing is faked).
#
#   scripts/apache-kafka-suite.sh [rust|python|e2e|faults|librdkafka]...   (default: all five)
#
# Environment: CARGO_TARGET_DIR, TECHPOTLI_PYTHON (scripts/test.sh sets both).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
parts=${*:-rust python e2e faults librdkafka}
dir=$(mktemp -d /tmp/techpotli-kafka-ci.XXXXXX)
log() { printf 'apache-kafka-suite: %s\n' "$*" >&2; }
step() { printf '\n--> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

set +e
scripts/kafka.sh fetch >/dev/null
fetched=$?
set -e
if [ $fetched -eq 3 ]; then
    log "SKIPPED: Maven Central could not serve Apache Kafka; only the embedded broker was tested"
    echo "apache kafka: skipped (artifacts unavailable)"
    exit 0
fi
[ $fetched -eq 0 ] || exit $fetched

running=""
stop_kafka() {
    if [ -n "$running" ]; then scripts/kafka.sh stop --dir "$running" || true; running=""; fi
}
# Nodes a test started itself (testkit::apache, /tmp/techpotli-apache-kafka-*) outlive it when
# the runner kills it on a timeout, before its Drop runs: stop those this run created.
sweep_test_nodes() {
    local d
    for d in $(find /tmp -maxdepth 1 -name 'techpotli-apache-kafka-*' -newer "$dir" 2>/dev/null); do
        scripts/kafka.sh stop --dir "$d" >/dev/null 2>&1 || true
        rm -rf "$d"
    done
}
trap 'stop_kafka; sweep_test_nodes; rm -rf "$dir"' EXIT
# Sets `running` (so the EXIT trap stops it) and `bootstrap`; not in a subshell, or the trap
# would not know the node.
start_kafka() {
    running="$dir/$1"
    shift
    bootstrap=$(scripts/kafka.sh start --dir "$running" "$@" | sed -n 's/^bootstrap=//p')
    [ -n "$bootstrap" ] || { log "Apache Kafka did not start (logs in $running)"; exit 1; }
}

failed="" reported=""
for part in $parts; do
    case "$part" in
        rust)
            step "Rust protocol tests on Apache Kafka (broker, runtime, sinks)"
            start_kafka shared
            # Integration tests only, not those of the command lines (they start no broker);
            # tests that configure an embedded broker of their own still get one.
            TECHPOTLI_TEST_KAFKA=$bootstrap cargo nextest run --no-fail-fast \
                -p techpotli-kafka -p techpotli-runtime \
                -E 'kind(test) & !binary(command_line)' || failed="$failed rust"
            stop_kafka
            # The sinks' tests create the catalogue's topics by their fixed names: a node each.
            step "Rust sink tests on Apache Kafka (a node per test)"
            TECHPOTLI_TEST_KAFKA=apache cargo nextest run --no-fail-fast \
                -p techpotli-connector-mysql -p techpotli-connector-redis \
                -E 'kind(test) & !binary(command_line)' || failed="$failed sinks"
            ;;
        python)
            step "Python conformance and differential tests on Apache Kafka"
            start_kafka shared
            TECHPOTLI_TEST_KAFKA=$bootstrap "$TECHPOTLI_PYTHON" -m pytest -q \
                tests/python/test_produce_consume.py tests/python/test_transactions.py \
                tests/python/test_groups.py tests/python/test_process_and_admin.py \
                tests/python/test_differential.py tests/python/test_registry_interop.py \
                || failed="$failed python"
            stop_kafka ;;
        e2e)
            step "end-to-end suite on Apache Kafka (a node per test)"
            # One test at a time: each brings a JVM to a 2-core machine.
            TECHPOTLI_TEST_KAFKA=apache cargo nextest run --no-fail-fast -p techpotli-e2e \
                --test-threads 1 || failed="$failed e2e"
            sweep_test_nodes
            ;;
        faults)
            step "cluster faults on a 3-node Apache Kafka (kill -9 of a follower, then the leader)"
            # Reported, not gating: it passed four runs, then timed out once in CI (orders not
            # all terminal in 600 s; docs/apache-kafka.md, "Cluster faults"). Gating again once
            # that is understood.
            TECHPOTLI_TEST_KAFKA=apache cargo nextest run --no-fail-fast -p techpotli-e2e \
                --run-ignored only -E 'binary(cluster_faults)' || reported="$reported faults"
            sweep_test_nodes
            ;;
        librdkafka)
            step "librdkafka's suite on Apache Kafka"
            start_kafka librdkafka --set num.partitions=4
            # 0102 (static member rejoins within the session timeout) is timing-sensitive on
            # Apache Kafka when the 2-core box is loaded; it failed its first run there in two
            # CI runs (docs/apache-kafka.md). The embedded broker gets no second chance.
            LIBRDKAFKA_RETRY_ONCE="0102" scripts/librdkafka-suite.sh --bootstrap "$bootstrap" || failed="$failed librdkafka"
            stop_kafka ;;
        *) log "unknown part '$part' (rust, python, e2e, librdkafka, faults)"; exit 2 ;;
    esac
done

[ -z "$reported" ] || log "WARNING: failed, reported but not gating:$reported"
if [ -n "$failed" ]; then
    echo "apache kafka: FAILED:$failed"
    exit 1
fi
echo "apache kafka: all gating parts passed ($parts)${reported:+; not gating, failed:$reported}"
