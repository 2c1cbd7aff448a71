#!/usr/bin/env bash
# Apache Kafka (KRaft, no ZooKeeper) from Maven Central, for the tests and benchmarks that run
# against the real thing beside the embedded broker. The version is pinned in
# scripts/kafka/pom.xml; its jars are fetched once into a cache outside the clone.
#
# Usage:
#   scripts/kafka.sh fetch                    jars into the cache (skipped when present);
#                                             prints the lib dir
#   scripts/kafka.sh start [--nodes N] [--dir DIR] [--set key=value]...
#                                             formats and starts N combined broker+controller
#                                             nodes (1 or 3) on free loopback ports, waits
#                                             until each serves, prints `bootstrap=...`
#   scripts/kafka.sh stop [--dir DIR]         stops the nodes started there, by PID
#   scripts/kafka.sh kill-node I [--dir DIR]  kill -9 node I (fault tests)
#   scripts/kafka.sh start-node I [--dir DIR] restarts node I on its data; waits until ready
#   scripts/kafka.sh bootstrap [--dir DIR]    prints the running cluster's bootstrap list
#   scripts/kafka.sh tool CLASS [ARG]...      runs one of Kafka's tool classes, e.g.
#                                             org.apache.kafka.tools.TopicCommand
#
# A cluster of 3 gets replication factor 3 and min.insync.replicas 2 for every topic it
# creates itself (offsets, transactions) and by default; a single node gets 1 and 1.
#
# Exit codes: 0 ok, 1 failure, 2 usage, 3 Maven could not serve the pinned artifacts (the
# caller may go on without Apache Kafka, saying so).
#
# Environment:
#   TECHPOTLI_CACHE      cache root (default /var/cache/techpotli): jars in kafka/<version>/lib,
#                        Maven's repository in m2
#   TECHPOTLI_KAFKA_DIR  default --dir (default /tmp/techpotli-kafka)
#   KAFKA_HEAP           -Xmx of each node (default 1g)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pom="$here/kafka/pom.xml"
cache="${TECHPOTLI_CACHE:-/var/cache/techpotli}"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
lib="$cache/kafka/$version/lib"
dir="${TECHPOTLI_KAFKA_DIR:-/tmp/techpotli-kafka}"
readonly READY_LINE='Kafka Server started'
readonly READY_TIMEOUT_S=120
readonly STOP_TIMEOUT_S=30

die() { echo "kafka.sh: $*" >&2; exit 1; }
usage() { sed -n '6,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

fetch() {
    if [ -f "$lib/.complete" ]; then
        return 0
    fi
    command -v mvn >/dev/null || { echo "kafka.sh: mvn not found: cannot fetch Apache Kafka $version" >&2; exit 3; }
    echo "kafka.sh: fetching Apache Kafka $version with Maven into $lib (once)" >&2
    rm -rf "$lib.partial"
    if ! mvn -q -B -Dstyle.color=never -f "$pom" -Dmaven.repo.local="$cache/m2" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$lib.partial" >&2; then
        rm -rf "$lib.partial"
        echo "kafka.sh: Maven could not serve org.apache.kafka:kafka_2.13:$version (see above)" >&2
        exit 3
    fi
    rm -rf "$lib"
    mv "$lib.partial" "$lib"
    touch "$lib/.complete"
}

# The JVM command line of every node and tool (the classpath wildcard is Java's, not the shell's).
JAVA=(java -Xms256m "-Xmx${KAFKA_HEAP:-1g}" -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$here/kafka/log4j2.properties" -cp "$lib/*")

free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

node_pid() {
    local pidfile="$dir/node-$1/pid" pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    # Only a live process started on this node's properties counts (a PID may be reused).
    [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/node-$1/server.properties" \
        && echo "$pid"
}

write_properties() {
    local i=$1 nodes=$2 port=$3 cport=$4 voters=$5 extra=$6
    local rf=1 isr=1
    if [ "$nodes" -ge 3 ]; then rf=3; isr=2; fi
    mkdir -p "$dir/node-$i/data"
    cat >"$dir/node-$i/server.properties" <<EOF
# Written by scripts/kafka.sh
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/node-$i/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
# Test-friendly timings (the embedded broker's): no first-join delay; a transaction past its
# timeout is aborted within a second, not within Kafka's default ten; an idle cleaner looks
# for dirty logs every second, not every 15.
group.initial.rebalance.delay.ms=0
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
log.cleaner.backoff.ms=1000
$extra
EOF
}

launch() {
    local i=$1 log="$dir/node-$i/server.log"
    [ -f "$log" ] && mv "$log" "$log.previous"
    # A killed node's PID file names a dead process: gone before the new one writes its own.
    rm -f "$dir/node-$i/pid"
    # The JVM gets a session of its own (it outlives this script) and writes its PID itself.
    setsid sh -c 'echo $$ >"$0"; exec "$@"' "$dir/node-$i/pid" \
        "${JAVA[@]}" kafka.Kafka "$dir/node-$i/server.properties" >"$log" 2>&1 </dev/null &
}

await_ready() {
    local i=$1 log="$dir/node-$i/server.log" deadline=$((SECONDS + READY_TIMEOUT_S))
    while ! grep -qF "$READY_LINE" "$log" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            tail -n 40 "$log" >&2 || true
            die "node $i not ready within ${READY_TIMEOUT_S}s (log: $log)"
        fi
        if [ -f "$dir/node-$i/pid" ] && ! node_pid "$i" >/dev/null; then
            tail -n 40 "$log" >&2 || true
            die "node $i exited while starting (log: $log)"
        fi
        sleep 0.3
    done
}

cmd_start() {
    local nodes=1 extra="" ports i
    while [ $# -gt 0 ]; do
        case "$1" in
            --nodes) nodes=$2; shift 2 ;;
            --dir) dir=$2; shift 2 ;;
            --set) extra+="$2"$'\n'; shift 2 ;;
            *) usage ;;
        esac
    done
    case "$nodes" in 1|3) ;; *) die "--nodes must be 1 or 3, got '$nodes'" ;; esac
    for i in $(seq 1 "$nodes"); do
        if node_pid "$i" >/dev/null; then die "node $i already runs in $dir: stop it first"; fi
    done
    fetch
    rm -rf "$dir"
    mkdir -p "$dir"
    read -r -a ports <<<"$(free_ports $((2 * nodes)))"
    local voters="" bootstrap=""
    for i in $(seq 1 "$nodes"); do
        voters+="${voters:+,}$i@127.0.0.1:${ports[$((nodes + i - 1))]}"
        bootstrap+="${bootstrap:+,}127.0.0.1:${ports[$((i - 1))]}"
    done
    local cluster_id
    cluster_id=$("${JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    for i in $(seq 1 "$nodes"); do
        write_properties "$i" "$nodes" "${ports[$((i - 1))]}" "${ports[$((nodes + i - 1))]}" "$voters" "$extra"
        "${JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
            -c "$dir/node-$i/server.properties" >"$dir/node-$i/format.log" 2>&1 \
            || { cat "$dir/node-$i/format.log" >&2; die "formatting node $i failed"; }
    done
    echo "$bootstrap" >"$dir/bootstrap"
    for i in $(seq 1 "$nodes"); do launch "$i"; done
    for i in $(seq 1 "$nodes"); do await_ready "$i"; done
    echo "kafka.sh: Apache Kafka $version, $nodes node(s) ready in $dir" >&2
    echo "bootstrap=$bootstrap"
}

stop_pid() {
    local pid=$1 deadline=$((SECONDS + STOP_TIMEOUT_S))
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            echo "kafka.sh: PID $pid ignored SIGTERM for ${STOP_TIMEOUT_S}s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            return 0
        fi
        sleep 0.2
    done
}

cmd_stop() {
    local pidfile i pids=()
    for pidfile in "$dir"/node-*/pid; do
        [ -f "$pidfile" ] || continue
        i=$(basename "$(dirname "$pidfile")"); i=${i#node-}
        if pid=$(node_pid "$i"); then pids+=("$pid"); fi
        rm -f "$pidfile"
    done
    # Brokers first, in parallel: a controller quorum stopped node by node waits on itself.
    for pid in "${pids[@]}"; do stop_pid "$pid" & done
    wait
    echo "kafka.sh: stopped ${#pids[@]} node(s) in $dir" >&2
}

node_arg() {
    local i=$1
    [[ "$i" =~ ^[0-9]+$ ]] && [ -f "$dir/node-$i/server.properties" ] || die "no node '$i' in $dir"
}

main() {
    [ $# -ge 1 ] || usage
    local cmd=$1; shift
    case "$cmd" in
        fetch) fetch; echo "$lib" ;;
        start) cmd_start "$@" ;;
        stop)
            [ "${1:-}" = --dir ] && dir=$2
            cmd_stop ;;
        kill-node|start-node)
            local i=${1:-}; shift || true
            [ "${1:-}" = --dir ] && dir=$2
            node_arg "$i"
            if [ "$cmd" = kill-node ]; then
                pid=$(node_pid "$i") || die "node $i is not running"
                kill -KILL "$pid"
                while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
                echo "kafka.sh: node $i (PID $pid) killed" >&2
            else
                if node_pid "$i" >/dev/null; then die "node $i already runs"; fi
                launch "$i"
                await_ready "$i"
                echo "kafka.sh: node $i ready" >&2
            fi ;;
        bootstrap)
            [ "${1:-}" = --dir ] && dir=$2
            cat "$dir/bootstrap" ;;
        tool)
            [ $# -ge 1 ] || usage
            fetch
            exec "${JAVA[@]/log4j2.properties/log4j2-tools.properties}" "$@" ;;
        *) usage ;;
    esac
}

main "$@"
