#!/usr/bin/env bash
# Starts MariaDB and Redis if needed, builds the release binaries and runs the whole pipeline locally (`techpotli dev`): embedded
# broker (data under ./.techpotli), schema registry, topics applied, schemas registered.
# Extra arguments go to `techpotli dev` (see `techpotli dev --help`). Ctrl-C stops it.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/techpotli/target}"
# MariaDB and Redis: installed and started when absent (quiet when they already run).
scripts/ensure-services.sh
cargo build --release -p techpotli-cli --bin techpotli
exec "$CARGO_TARGET_DIR/release/techpotli" dev "$@"
