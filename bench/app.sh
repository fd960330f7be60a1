#!/usr/bin/env bash
# bench/app.sh — the cairn-client example service (crates/cairn-client/examples/app.rs, a
# product service over a real SQLite database) under a Zipf load: database queries per
# second and p50/p99 latency with no cache, with the cache, and with cache + near cache;
# then a stampede on one hot key with single-flight off and on.
#
#   bash bench/app.sh [SECONDS_PER_RUN] [WORKERS] [EXTRA ARGS FOR THE EXAMPLE...]
#
# Builds release once (cairn and the example), starts one Cairn node on a free 127.0.0.1
# port, runs the example against it under a time limit, stops everything. CAIRN_BIN may
# name a prebuilt cairn binary.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
resolve_cairn_bin
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_PER_RUN="${1:-5}"
WORKERS="${2:-32}"
shift $(( $# > 2 ? 2 : $# ))
require_positive SECONDS_PER_RUN WORKERS

build_cairn
echo "==> cargo build --release -p cairn-client --example app"
cargo build --release -p cairn-client --example app
APP="${CARGO_TARGET_DIR:-$PWD/target}/release/examples/app"

WORK="$(mktemp -d)"
PORT="$(free_port)"
CAIRN_PID=""
cleanup() {
    stop_pid "$CAIRN_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT

"$CAIRN_BIN" server --port "$PORT" --bind 127.0.0.1 --dir "$WORK" >"$WORK/cairn.log" 2>&1 &
CAIRN_PID=$!
for _ in $(seq 1 200); do
    grep -q "ready to accept connections" "$WORK/cairn.log" && break
    is_running "$CAIRN_PID" || { cat "$WORK/cairn.log"; die "cairn exited"; }
    sleep 0.05
done
grep -q "ready to accept connections" "$WORK/cairn.log" || die "cairn did not become ready"

echo "==> cairn $("$CAIRN_BIN" --version 2>/dev/null || echo) on 127.0.0.1:$PORT; $(nproc) cores"
# three load runs + two stampede runs of at most 3 s, plus set-up: bounded
LIMIT=$(( SECONDS_PER_RUN * 3 + 6 + 120 ))
timeout "$LIMIT" "$APP" bench --redis "redis://127.0.0.1:$PORT" \
    --seconds "$SECONDS_PER_RUN" --workers "$WORKERS" "$@" \
    || die "the example failed or ran past ${LIMIT}s"
