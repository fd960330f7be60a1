#!/usr/bin/env bash
# bench/eviction-throughput.sh — throughput with eviction running vs without a memory limit.
#
# What it measures
#   The foundation benchmark (bench/redis-benchmark.sh's load, `-d 32`) against two
#   configurations of each server:
#
#     nolimit   no maxmemory
#     limit     --maxmemory 32mb; Cairn with its default policy (allkeys-tinylfu),
#               redis-server with --maxmemory-policy allkeys-lru
#
#   Every measured run starts from FLUSHALL followed by one unmeasured SET pass, so that in
#   the limit configuration memory is at the limit and eviction runs throughout the
#   measured run (the nolimit configuration gets the same pass, so the only difference is
#   the limit):
#
#     prefill:  redis-benchmark -h 127.0.0.1 -p PORT -t set -n 1000000 -r 1000000 -c 50 -P 16 -d 32 --csv -q
#     measured: redis-benchmark -h 127.0.0.1 -p PORT -t set,get -n N -r 1000000 -c 50 -P PIPE -d 32 --csv -q
#               (PIPE = 1 and 16)
#
#   After each measured run the script reads INFO stats and prints evicted_keys (during the
#   prefill and during the measured run) and the GET hit rate. In the limit configuration
#   evicted_keys must grow during the measured run, and in the nolimit one it must not;
#   otherwise the script prints a warning and exits with status 1 after the summary.
#
#   Rounds are A/B/A/B: each round runs the four (server, configuration) pairs for each
#   pipeline depth, odd rounds in the order cairn-nolimit, cairn-limit, redis-nolimit,
#   redis-limit and even rounds in the reverse order. The summary gives, per server and
#   pipeline depth, the median ops/s without and with the limit and the ratio limit/nolimit
#   (the issue's criterion: Cairn's ratio >= 0.90), and the server CPU time per request.
#
# How to run (from anywhere):
#   bash bench/eviction-throughput.sh
#   ROUNDS=1 BENCH_N=100000 bash bench/eviction-throughput.sh      # quick smoke run
#
# Settings (environment variables):
#   ROUNDS         number of A/B rounds                      (default 3)
#   BENCH_N        requests per measured redis-benchmark run (-n)  (default 1000000)
#   PREFILL_N      requests of the unmeasured SET pass       (default 1000000)
#   BENCH_DATA     value size in bytes (-d)                  (default 32)
#   MAXMEMORY      the limit of the limit configuration      (default 32mb)
#   CAIRN_POLICY   Cairn's --maxmemory-policy in the limit configuration
#                  (default: none given, so Cairn's default, allkeys-tinylfu)
#   REDIS_POLICY   redis-server's --maxmemory-policy          (default allkeys-lru)
#   CAIRN_BIN      use this cairn binary; skips `cargo build --release -p cairn`
#   CAIRN_ARGS     extra settings for both Cairn servers, e.g. "--threads 1"
#   BENCH_TIMEOUT  time limit in seconds for one redis-benchmark run (default 600)
#
# Needs: bash, python3, redis-server, redis-benchmark and redis-cli (installed with apt-get
# if missing, as root). All four servers listen on ephemeral ports on 127.0.0.1 with
# persistence off and are stopped when the script exits, including on Ctrl-C and SIGTERM.

set -euo pipefail

# ---------------------------------------------------------------- settings --
ROUNDS="${ROUNDS:-3}"
BENCH_N="${BENCH_N:-1000000}"
BENCH_DATA="${BENCH_DATA:-32}"
PREFILL_N="${PREFILL_N:-1000000}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-600}"
MAXMEMORY="${MAXMEMORY:-32mb}"
CAIRN_POLICY="${CAIRN_POLICY:-}"
REDIS_POLICY="${REDIS_POLICY:-allkeys-lru}"
CAIRN_BIN="${CAIRN_BIN:-}"
PIPES=(1 16)

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_positive ROUNDS BENCH_N BENCH_DATA PREFILL_N BENCH_TIMEOUT

resolve_cairn_bin

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# ------------------------------------------------------------ dependencies --
command -v python3 >/dev/null || die "python3 is required (used for free ports and medians)"
ensure_redis_tools

# ------------------------------------------------------------------- build --
build_cairn

# ------------------------------------------------- servers and clean-up ----
WORK="$(mktemp -d -t cairn-evict.XXXXXX)"   # server logs, cwd, raw results
RESULTS="$WORK/results.tsv"                 # server  config  test  pipe  value
: >"$RESULTS"
INSTANCES=(cairn-nolimit cairn-limit redis-nolimit redis-limit)
declare -A PORT=() PID=() CMDLINE=()
BENCH_PID=""
CHECK_FAILED=0

install_cleanup

server_argv() {   # server_argv INSTANCE: the server's argv, one word per line
    local inst="$1" port="${PORT[$1]}"
    case "$inst" in
    cairn-*)
        printf '%s\n' "$CAIRN_BIN" server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --loglevel warning
        if [[ $inst == cairn-limit ]]; then
            printf '%s\n' --maxmemory "$MAXMEMORY"
            [[ -z "$CAIRN_POLICY" ]] || printf '%s\n' --maxmemory-policy "$CAIRN_POLICY"
        fi
        # shellcheck disable=SC2086 # CAIRN_ARGS is a list of extra words on purpose
        [[ -z "${CAIRN_ARGS:-}" ]] || printf '%s\n' ${CAIRN_ARGS}
        ;;
    redis-*)
        printf '%s\n' redis-server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --daemonize no --loglevel warning
        [[ $inst != redis-limit ]] || printf '%s\n' --maxmemory "$MAXMEMORY" --maxmemory-policy "$REDIS_POLICY"
        ;;
    esac
}

for inst in "${INSTANCES[@]}"; do start_instance "$inst"; done

# ------------------------------------------------------------------ header --
bench_cmd() {   # bench_cmd PORT TESTS PIPE [N]: the redis-benchmark argv, one per line
    printf '%s\n' redis-benchmark -h 127.0.0.1 -p "$1" -t "$2" -n "${4:-$BENCH_N}" \
        -r 1000000 -c 50 -P "$3" -d "$BENCH_DATA" --csv -q
}
cli() { timeout 10 redis-cli -h 127.0.0.1 -p "${PORT[$1]}" "${@:2}"; }
info_field() {   # info_field INSTANCE SECTION FIELD: one INFO field (0 if absent)
    local v
    v="$(cli "$1" info "$2" | tr -d '\r' | awk -F: -v f="$3" '$1 == f { print $2; exit }')"
    echo "${v:-0}"
}

CAIRN_VERSION="$(timeout 5 "$CAIRN_BIN" --version 2>/dev/null </dev/null | head -n 1)" || CAIRN_VERSION=""
[[ -n "$CAIRN_VERSION" ]] || CAIRN_VERSION="unknown"

echo "== Throughput with eviction running (maxmemory $MAXMEMORY) vs no limit"
echo "date:            $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpus:            $(nproc 2>/dev/null || echo '?'); loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cairn binary:    $CAIRN_BIN"
echo "cairn version:   $CAIRN_VERSION"
echo "redis-server:    $(redis-server --version)"
echo "redis-benchmark: $(redis-benchmark --version 2>/dev/null || echo unknown)"
echo "rounds:          $ROUNDS, requests per measured run: $BENCH_N, prefill: $PREFILL_N, value size: $BENCH_DATA"
echo "servers:"
for inst in "${INSTANCES[@]}"; do
    policy="$(cli "$inst" config get maxmemory-policy | tail -n 1)"
    printf '  %-14s %s  (pid %s; maxmemory-policy %s)\n' "$inst" "${CMDLINE[$inst]}" "${PID[$inst]}" "$policy"
done
echo "per run: FLUSHALL, then the unmeasured prefill, then the measured run:"
echo "  prefill:  $(bench_cmd PORT set 16 "$PREFILL_N" | paste -sd ' ')"
for pipe in "${PIPES[@]}"; do
    echo "  measured: $(bench_cmd PORT set,get "$pipe" | paste -sd ' ')"
done
echo

# --------------------------------------------------------------- measuring --
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

bench() {   # bench INSTANCE TESTS PIPE [N]: one redis-benchmark run; output in $WORK/bench.out
    local inst="$1" rc=0
    local -a cmd
    mapfile -t cmd < <(bench_cmd "${PORT[$inst]}" "$2" "$3" "${4:-}")
    run_bounded "$WORK/bench.out" "$WORK/bench.err" "${cmd[@]}" || rc=$?
    if [[ $rc -ne 0 ]]; then
        if is_running "${PID[$inst]}"; then   # state of the server at the failure
            echo "$inst now: dbsize=$(cli "$inst" dbsize 2>&1)" \
                "used_memory=$(info_field "$inst" memory used_memory 2>&1)" \
                "evicted_keys=$(info_field "$inst" stats evicted_keys 2>&1)" >&2
        fi
        die "redis-benchmark against $inst failed (exit $rc)"
    fi
}

run_one() {   # run_one INSTANCE PIPE ROUND: prefill + measured run; appends to $RESULTS
    local inst="$1" pipe="$2" round="$3"
    local server="${inst%%-*}" config="${inst#*-}" pid="${PID[$1]}"
    local out test rps line="" ev0 ev1 ev2 rej0 rej2 hits0 miss0 hits misses used cpu_before
    is_running "$pid" || die "$inst (pid $pid) is no longer running"

    out="$(cli "$inst" flushall 2>&1)" || true
    [[ "$out" == "OK" ]] || die "FLUSHALL on $inst returned '$out'"
    ev0="$(info_field "$inst" stats evicted_keys)"
    bench "$inst" set 16 "$PREFILL_N"                       # prefill, not measured
    ev1="$(info_field "$inst" stats evicted_keys)"
    used="$(info_field "$inst" memory used_memory)"
    rej0="$(info_field "$inst" stats evicted_rejected)"
    hits0="$(info_field "$inst" stats keyspace_hits)"
    miss0="$(info_field "$inst" stats keyspace_misses)"

    cpu_before="$(cpu_ticks "$pid")"
    bench "$inst" set,get "$pipe"                           # measured
    printf '%s\t%s\tCPU\t%s\t%s\n' "$server" "$config" "$pipe" \
        "$(( ($(cpu_ticks "$pid") - cpu_before) * 1000000 / $(getconf CLK_TCK) ))" >>"$RESULTS"
    out="$(tr -d '\r' <"$WORK/bench.out")"
    for test in SET GET; do
        rps="$(awk -F'"' -v t="$test" '$2 == t { print $4; exit }' <<<"$out")"
        if ! [[ "$rps" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
            echo "redis-benchmark output:" >&2; printf '%s\n' "$out" >&2
            die "no $test rps in the redis-benchmark output for $inst (P$pipe)"
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$server" "$config" "$test" "$pipe" "$rps" >>"$RESULTS"
        line+="$(printf '  %s %10.0f ops/s' "$test" "$rps")"
    done

    ev2="$(info_field "$inst" stats evicted_keys)"
    rej2="$(info_field "$inst" stats evicted_rejected)"
    hits=$(( $(info_field "$inst" stats keyspace_hits) - hits0 ))
    misses=$(( $(info_field "$inst" stats keyspace_misses) - miss0 ))
    local evicted=$((ev2 - ev1)) extra=""
    [[ "$server" == cairn ]] && extra=" rejected=$((rej2 - rej0))"
    printf '%s\t%s\tEVICTED\t%s\t%s\n' "$server" "$config" "$pipe" "$evicted" >>"$RESULTS"
    printf '[round %d/%d] P%-2s %-14s%s | used_memory after prefill %6.1f MiB, evicted_keys prefill=%d measured=%d%s, GET hits %.1f%%\n' \
        "$round" "$ROUNDS" "$pipe" "$inst" "$line" "$(awk -v u="$used" 'BEGIN { print u / 1048576 }')" \
        "$((ev1 - ev0))" "$evicted" "$extra" "$(awk -v h="$hits" -v m="$misses" 'BEGIN { print 100 * h / (h + m > 0 ? h + m : 1) }')"
    if [[ $config == limit && $evicted -le 0 ]]; then
        echo "WARNING: $inst evicted nothing during the measured run: eviction was not running" >&2
        CHECK_FAILED=1
    elif [[ $config == nolimit && $((ev2 - ev0)) -ne 0 ]]; then
        echo "WARNING: $inst evicted keys without a memory limit" >&2
        CHECK_FAILED=1
    fi
}

for ((round = 1; round <= ROUNDS; round++)); do
    order=("${INSTANCES[@]}")
    ((round % 2 == 1)) || order=(redis-limit redis-nolimit cairn-limit cairn-nolimit)
    for pipe in "${PIPES[@]}"; do
        for inst in "${order[@]}"; do run_one "$inst" "$pipe" "$round"; done
    done
done

# ---------------------------------------------------------------- summary --
echo
echo "== Medians over $ROUNDS round(s), $BENCH_N requests per run, 50 clients, keyspace 1000000, -d $BENCH_DATA, limit $MAXMEMORY"
python3 - "$RESULTS" "$BENCH_N" <<'EOF'
import statistics, sys

runs = {}
with open(sys.argv[1]) as f:
    for line in f:
        server, config, test, pipe, value = line.strip().split("\t")
        runs.setdefault((server, config, test, pipe), []).append(float(value))
med = lambda *k: statistics.median(runs[k])

print(f"{'server':<6} {'test':<8} {'nolimit ops/s':>14} {'limit ops/s':>14} {'limit/nolimit':>14} {'evicted/run':>12}")
for server in ("cairn", "redis"):
    for pipe in ("1", "16"):
        for test in ("SET", "GET"):
            n, l = med(server, "nolimit", test, pipe), med(server, "limit", test, pipe)
            ratio = l / n if n > 0 else float("nan")
            mark = ("  ok (>= 0.90)" if ratio >= 0.9 else "  BELOW 0.90") if server == "cairn" else ""
            ev = med(server, "limit", "EVICTED", pipe)
            print(f"{server:<6} {test + ' P' + pipe:<8} {n:>14.0f} {l:>14.0f} {ratio:>14.2f} {ev:>12.0f}{mark}")

requests = 2 * int(sys.argv[2])  # SET and GET
print()
print("server CPU per request (microseconds, user + system, median over the measured runs; lower is better)")
print(f"{'server':<6} {'pipeline':<8} {'nolimit':>14} {'limit':>14} {'limit/nolimit':>14}")
for server in ("cairn", "redis"):
    for pipe in ("1", "16"):
        n = med(server, "nolimit", "CPU", pipe) / requests
        l = med(server, "limit", "CPU", pipe) / requests
        ratio = f"{l / n:.2f}" if n > 0 else "n/a"
        print(f"{server:<6} {'P' + pipe:<8} {n:>14.2f} {l:>14.2f} {ratio:>14}")
EOF
echo
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: cairn $CAIRN_VERSION; $(redis-server --version)"
if [[ $CHECK_FAILED -ne 0 ]]; then
    echo "check failed: see the warnings above (eviction not running in the limit configuration, or evicting without a limit)" >&2
    exit 1
fi
exit 0
