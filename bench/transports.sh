#!/usr/bin/env bash
# bench/transports.sh — the two Redis client crates cairn-client could sit on, redis-rs and
# fred, on one load against one Cairn node and one redis-server: T tasks share one client
# (one connection each: redis-rs's multiplexed connection, fred's client with its automatic
# pipelining), SET then GET, REQUESTS per pass, ROUNDS rounds alternating which client goes
# first; medians and fred/redis-rs. The measuring program is bench/transports/ (its own
# workspace, so the main build never compiles fred).
#
#   bash bench/transports.sh                      # tasks 1 and 50, 200k requests, 3 rounds
#   TASKS=1,8,50 REQUESTS=500000 ROUNDS=5 bash bench/transports.sh
#
# Needs redis-server (installed with apt-get if missing, as root). Every process it starts
# is stopped when it exits, also on failure and Ctrl-C.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
resolve_cairn_bin
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TASKS="${TASKS:-1,50}"
REQUESTS="${REQUESTS:-200000}"
ROUNDS="${ROUNDS:-3}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-600}"
require_positive REQUESTS ROUNDS BENCH_TIMEOUT
[[ "$TASKS" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "TASKS must be a comma-separated list of positive integers"
ensure_redis_tools
build_cairn
echo "==> cargo build --release --manifest-path bench/transports/Cargo.toml"
cargo build --release --manifest-path bench/transports/Cargo.toml
MEASURE="${CARGO_TARGET_DIR:-$ROOT/bench/transports/target}/release/transports"

WORK="$(mktemp -d -t cairn-transports.XXXXXX)"
INSTANCES=(cairn redis)
declare -A PORT=() PID=() CMDLINE=()
BENCH_PID=""
install_cleanup

server_argv() {   # server_argv INSTANCE: the server's argv, one word per line
    case "$1" in
    cairn) printf '%s\n' "$CAIRN_BIN" server --port "${PORT[$1]}" --bind 127.0.0.1 --save "" \
        --appendonly no --loglevel warning ;;
    redis) printf '%s\n' redis-server --port "${PORT[$1]}" --bind 127.0.0.1 --save "" \
        --appendonly no --daemonize no --loglevel warning ;;
    esac
}

echo "== redis-rs against fred: $REQUESTS requests per pass, tasks $TASKS, $ROUNDS round(s)"
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); cpus: $(nproc); $(redis-server --version | cut -d' ' -f1-3)"
for inst in "${INSTANCES[@]}"; do
    start_instance "$inst"
    echo
    echo "-- against $inst: ${CMDLINE[$inst]}"
    run_bounded "$WORK/$inst.out" "$WORK/$inst.err" "$MEASURE" "127.0.0.1:${PORT[$inst]}" \
        --tasks "$TASKS" --requests "$REQUESTS" --rounds "$ROUNDS" \
        || die "the measurement against $inst failed"
    cat "$WORK/$inst.out"
    stop_pid "${PID[$inst]}"
    PID[$inst]=""
done
