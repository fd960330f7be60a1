#!/usr/bin/env bash
# bench/redis-benchmark.sh — throughput of Cairn compared with redis-server.
#
# What it measures
#   SET and GET throughput (ops/s) reported by `redis-benchmark` against a
#   Cairn server and against a stock redis-server. Both run on the same
#   machine with persistence switched off. The workload is:
#
#     redis-benchmark -h 127.0.0.1 -p PORT -t set,get -n N -r 1000000 \
#                     -c 50 -P PIPE --csv -q            (PIPE = 1 and 16)
#
#   Runs alternate between the two servers (A/B/A/B). Odd rounds run Cairn
#   first and even rounds run Redis first. The final table shows the median
#   of each server's runs and the ratio cairn/redis (> 1.00 means Cairn is
#   faster).
#
# How to run (from anywhere):
#   bash bench/redis-benchmark.sh
#
# Settings (environment variables):
#   BENCH_N        requests per redis-benchmark run   (default 1000000)
#   BENCH_ROUNDS   number of A/B rounds               (default 3)
#   CAIRN_BIN      use this cairn binary; skips `cargo build --release -p cairn`
#                  (default: target/release/cairn, built by this script)
#   CAIRN_ARGS     extra settings for the cairn server, e.g. "--threads 1"
#   BENCH_TIMEOUT  time limit in seconds for one redis-benchmark run, so a
#                  server that hangs cannot stall the script (default 600)
#
# Needs: bash, python3, redis-server, redis-benchmark and redis-cli. If the
# redis tools are missing, the script installs them with apt-get (needs root).
# Both servers are stopped when the script exits, including on Ctrl-C.

set -euo pipefail

# ---------------------------------------------------------------- settings --
BENCH_N="${BENCH_N:-1000000}"
BENCH_ROUNDS="${BENCH_ROUNDS:-3}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-600}"
CAIRN_BIN="${CAIRN_BIN:-}"
PIPES=(1 16)

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_positive BENCH_N BENCH_ROUNDS BENCH_TIMEOUT

# Resolve a user-supplied CAIRN_BIN before changing directory, so relative
# paths work from the caller's directory.
resolve_cairn_bin

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# ------------------------------------------------------------ dependencies --
command -v python3 >/dev/null || die "python3 is required (used for free ports and medians)"

ensure_redis_tools

# ------------------------------------------------------------------- build --
build_cairn

# ------------------------------------------------- servers and clean-up ----
WORK="$(mktemp -d -t cairn-bench.XXXXXX)"   # server logs, cwd, raw results
RESULTS="$WORK/results.tsv"                  # server  test  pipe  rps
: >"$RESULTS"
CAIRN_PID=""
REDIS_PID=""
BENCH_PID=""   # redis-benchmark run in progress, if any


cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_pid "$BENCH_PID"
    stop_pid "$CAIRN_PID"
    stop_pid "$REDIS_PID"
    if [[ $rc -ne 0 && $rc -ne 130 && $rc -ne 143 ]]; then   # failed, not interrupted
        show_logs "$WORK"/cairn.log "$WORK"/redis.log
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT    # these run the EXIT trap above
trap 'exit 143' TERM

# Two free ephemeral ports. Both sockets stay open until both are chosen, so
# the ports differ.
read -r CAIRN_PORT REDIS_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
') || die "could not pick free ports"
[[ -n "$CAIRN_PORT" && -n "$REDIS_PORT" ]] || die "could not pick free ports"

# await_pong NAME PORT PID: wait up to 20 s for PONG.
await_pong() {
    local name="$1" port="$2" pid="$3"
    local deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        is_running "$pid" || die "$name (pid $pid) exited before answering PING on port $port"
        if [[ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == "PONG" ]]; then
            return 0
        fi
        sleep 0.1
    done
    die "$name did not answer PING on port $port within 20 s"
}

# Servers run in $WORK so that any files they write stay out of the repo.
# shellcheck disable=SC2086 # CAIRN_ARGS is a list of extra words on purpose
(cd "$WORK" && exec "$CAIRN_BIN" server --port "$CAIRN_PORT" --bind 127.0.0.1 \
    --save "" --appendonly no --loglevel warning ${CAIRN_ARGS:-}) >"$WORK/cairn.log" 2>&1 &
CAIRN_PID=$!
(cd "$WORK" && exec redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
    --save "" --appendonly no --daemonize no --loglevel warning) >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!

await_pong cairn "$CAIRN_PORT" "$CAIRN_PID"
await_pong redis "$REDIS_PORT" "$REDIS_PID"

# ------------------------------------------------------------------ header --
bench_cmd() {   # bench_cmd PORT PIPE: print the redis-benchmark argv, one per line
    printf '%s\n' redis-benchmark -h 127.0.0.1 -p "$1" -t set,get -n "$BENCH_N" \
        -r 1000000 -c 50 -P "$2" --csv -q
}

CAIRN_VERSION="$(timeout 5 "$CAIRN_BIN" --version 2>/dev/null </dev/null | head -n 1)" || CAIRN_VERSION=""
[[ -n "$CAIRN_VERSION" ]] || CAIRN_VERSION="unknown"

echo "== Cairn vs Redis: redis-benchmark SET/GET throughput"
echo "date:            $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpus:            $(nproc 2>/dev/null || echo '?')"
echo "cairn binary:    $CAIRN_BIN"
echo "cairn version:   $CAIRN_VERSION"
echo "redis-server:    $(redis-server --version)"
echo "redis-benchmark: $(redis-benchmark --version 2>/dev/null || echo unknown)"
echo "cairn port:      $CAIRN_PORT (pid $CAIRN_PID)"
echo "redis port:      $REDIS_PORT (pid $REDIS_PID)"
echo "rounds:          $BENCH_ROUNDS, requests per run: $BENCH_N"
echo "commands:"
for pipe in "${PIPES[@]}"; do
    echo "  $(bench_cmd PORT "$pipe" | paste -sd ' ')"
done
echo

# --------------------------------------------------------------- measuring --
declare -A FLUSH_WARNED=()

# cpu_ticks PID: user + system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run_one NAME PORT PID PIPE ROUND: one redis-benchmark run; appends to $RESULTS.
run_one() {
    local name="$1" port="$2" pid="$3" pipe="$4" round="$5"
    local out rc=0 test rps line=""
    is_running "$pid" || die "$name server (pid $pid) is no longer running"

    # Start from an empty keyspace so memory use does not grow across runs.
    # This is a nice-to-have, so an error only prints a warning (once).
    out="$(timeout 10 redis-cli -h 127.0.0.1 -p "$port" flushall 2>&1)" || true
    if [[ "$out" != "OK" && -z "${FLUSH_WARNED[$name]:-}" ]]; then
        echo "warning: FLUSHALL on $name returned '$out'; continuing" >&2
        FLUSH_WARNED[$name]=1
    fi

    local -a cmd
    mapfile -t cmd < <(bench_cmd "$port" "$pipe")
    local cpu_before
    cpu_before="$(cpu_ticks "$pid")"
    # Run in the background and `wait`, so INT/TERM reach the trap at once
    # instead of after the run ends.
    timeout "$BENCH_TIMEOUT" "${cmd[@]}" >"$WORK/bench.out" 2>"$WORK/bench.err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=""
    # Server CPU time (user + system) per request over both tests of this run: a figure
    # CPU steal on a shared machine disturbs far less than ops/s.
    printf '%s\tCPU\t%s\t%s\n' "$name" "$pipe" \
        "$(( ($(cpu_ticks "$pid") - cpu_before) * 1000000 / $(getconf CLK_TCK) ))" >>"$RESULTS"
    out="$(<"$WORK/bench.out")"
    if [[ $rc -ne 0 ]]; then
        [[ $rc -eq 124 ]] && echo "redis-benchmark timed out after ${BENCH_TIMEOUT}s" >&2
        echo "command: ${cmd[*]}" >&2
        echo "stdout:" >&2; printf '%s\n' "$out" >&2
        echo "stderr:" >&2; cat "$WORK/bench.err" >&2
        die "redis-benchmark against $name failed (exit $rc)"
    fi

    for test in SET GET; do
        # Both CSV layouts work: "SET","123.45",... (v7, after a header line)
        # and "SET","123.45" (older). Splitting on '"' puts the rps in field 4.
        rps="$(tr -d '\r' <<<"$out" | awk -F'"' -v t="$test" '$2 == t { print $4; exit }')"
        if ! [[ "$rps" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
            echo "redis-benchmark output:" >&2; printf '%s\n' "$out" >&2
            die "no $test rps in the redis-benchmark output for $name (P$pipe)"
        fi
        printf '%s\t%s\t%s\t%s\n' "$name" "$test" "$pipe" "$rps" >>"$RESULTS"
        line+="$(printf '  %s %12s ops/s' "$test" "$rps")"
    done
    printf '[round %d/%d] P%-2s %-5s%s\n' "$round" "$BENCH_ROUNDS" "$pipe" "$name" "$line"
}

for ((round = 1; round <= BENCH_ROUNDS; round++)); do
    for pipe in "${PIPES[@]}"; do
        if ((round % 2 == 1)); then
            run_one cairn "$CAIRN_PORT" "$CAIRN_PID" "$pipe" "$round"
            run_one redis "$REDIS_PORT" "$REDIS_PID" "$pipe" "$round"
        else
            run_one redis "$REDIS_PORT" "$REDIS_PID" "$pipe" "$round"
            run_one cairn "$CAIRN_PORT" "$CAIRN_PID" "$pipe" "$round"
        fi
    done
done

# ---------------------------------------------------------------- summary --
echo
echo "== Medians over $BENCH_ROUNDS round(s), $BENCH_N requests per run, 50 clients, keyspace 1000000"
python3 - "$RESULTS" "$BENCH_N" <<'EOF'
import statistics, sys

runs = {}
with open(sys.argv[1]) as f:
    for line in f:
        server, test, pipe, rps = line.strip().split("\t")
        runs.setdefault((server, test, pipe), []).append(float(rps))

print(f"{'test':<8} {'cairn ops/s':>14} {'redis ops/s':>14} {'cairn/redis':>12}")
for pipe in ("1", "16"):
    for test in ("SET", "GET"):
        c = statistics.median(runs[("cairn", test, pipe)])
        r = statistics.median(runs[("redis", test, pipe)])
        ratio = f"{c / r:.2f}" if r > 0 else "n/a"
        print(f"{test + ' P' + pipe:<8} {c:>14.0f} {r:>14.0f} {ratio:>12}")

requests = 2 * int(sys.argv[2])  # SET and GET
print()
print("server CPU per request (microseconds, user + system, median; lower is better)")
print(f"{'pipeline':<8} {'cairn':>14} {'redis':>14} {'cairn/redis':>12}")
for pipe in ("1", "16"):
    c = statistics.median(runs[("cairn", "CPU", pipe)]) / requests
    r = statistics.median(runs[("redis", "CPU", pipe)]) / requests
    ratio = f"{c / r:.2f}" if r > 0 else "n/a"
    print(f"{'P' + pipe:<8} {c:>14.2f} {r:>14.2f} {ratio:>12}")
EOF
echo
echo "command: $(bench_cmd PORT PIPE | paste -sd ' ')"
echo "versions: cairn $CAIRN_VERSION; $(redis-server --version)"
exit 0
