#!/usr/bin/env bash
# Runs the pipeline locally. Today that is the embedded Kafka-protocol broker (data kept under
# ./.techpotli/broker); later components join it as `techpotli dev` lands.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/techpotli/target}"
cargo build --release -p techpotli-kafka --bin techpotli-broker
exec "$CARGO_TARGET_DIR/release/techpotli-broker" \
    --listen "${TECHPOTLI_BROKER_LISTEN:-127.0.0.1:9092}" \
    --data-dir "${TECHPOTLI_BROKER_DATA_DIR:-$root/.techpotli/broker}" \
    --metrics-listen "${TECHPOTLI_BROKER_METRICS_LISTEN:-127.0.0.1:9308}" "$@"
