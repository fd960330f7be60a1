#!/usr/bin/env bash
# bench/memcached-throughput.sh — memcached text protocol get/set throughput, Cairn vs memcached 1.6.
#
# What it measures
#   Requests/s of `set` and `get` over the memcached text protocol, against Cairn's
#   memcached listener (`cairn server --memcached-port N`) and a stock memcached
#   (`memcached -t 2`), both on 127.0.0.1 and on the same machine. The load generator is
#   bench/mcload (a small std-only Rust program, built by this script):
#
#     mcload --host 127.0.0.1 --port PORT --op set|get --pipeline PIPE --conns 50
#            --threads 2 --keys 100000 --value-size 32 --requests N --seed ROUND
#
#   50 connections over 2 client threads; each connection writes PIPE requests in one
#   write and reads until PIPE complete replies are parsed, then writes the next batch.
#   Keys are key:%012d, uniformly random in [0, 100000). Every reply is checked (`STORED`;
#   `VALUE <key> 0 32` + the exact bytes + `END`); anything else, or a GET miss, stops the
#   script with the offending line. Before the first measured run each server gets every
#   key once (mcload --prefill), so every GET hits.
#
#   Tests per round: SET P1, GET P1, SET P16, GET P16 (for each pipeline depth, SET then
#   GET). Rounds are A/B/A/B: odd rounds run each test on cairn then memcached, even rounds
#   memcached then cairn. Both servers see the same key sequence in a round (--seed ROUND).
#   The summary gives per test the median requests/s of each server and the ratio
#   cairn/memcached (> 1.00 means Cairn is faster), and the server CPU time per request
#   (user + system from /proc/PID/stat, over the run; lower is better; steadier than
#   requests/s on a shared machine). On a 2-core machine the server and mcload share the
#   cores, for both servers alike.
#
# How to run (from anywhere):
#   bash bench/memcached-throughput.sh                       # about 2 minutes here
#   BENCH_ROUNDS=1 BENCH_REQUESTS=20000 BENCH_REQUESTS_PIPELINED=100000 \
#       bash bench/memcached-throughput.sh                   # smoke run
#   CAIRN_MC_CMD='memcached -t 2 -p {port} -l 127.0.0.1 -m 1024 -U 0' \
#       bash bench/memcached-throughput.sh                   # memcached vs memcached (ratios ~1)
#
# Settings (environment variables):
#   BENCH_ROUNDS             number of A/B rounds                               (default 3)
#   BENCH_REQUESTS           requests per run at pipeline 1                     (default 200000)
#   BENCH_REQUESTS_PIPELINED requests per run at pipeline > 1                   (default 1000000)
#   BENCH_PIPES              pipeline depths, space-separated                   (default "1 16")
#   BENCH_CONNS              connections                                        (default 50)
#   BENCH_THREADS            mcload threads                                     (default 2)
#   BENCH_KEYS               keyspace size                                      (default 100000)
#   BENCH_VALUE_SIZE         value bytes                                        (default 32)
#   BENCH_TIMEOUT            time limit in seconds for one mcload run           (default 300)
#   MEMCACHED_THREADS        memcached -t                                       (default 2)
#   MEMCACHED_MEMORY         memcached -m, in MB                                (default 1024)
#   CAIRN_BIN                use this cairn binary; skips `cargo build --release -p cairn`
#                            (default: target/release/cairn, built by this script)
#   CAIRN_ARGS               extra settings for the Cairn server, e.g. "--threads 1"
#                            (without --threads, Cairn runs MEMCACHED_THREADS threads)
#   CAIRN_MC_CMD             run this command instead of Cairn on the "cairn" side, with
#                            {port} replaced by the memcached-protocol port; split on
#                            whitespace, no shell quoting (`-u root` is added to a
#                            memcached command when running as root). Cairn is then not
#                            built. For testing the script without Cairn's listener.
#   MCLOAD_TARGET_DIR        cargo target dir for mcload                        (default /tmp/mcload-target)
#
# Needs: bash, python3, cargo, memcached (installed with apt-get if missing, as root).
# Every process the script starts (servers, mcload) is stopped when the script exits,
# including on failure, Ctrl-C and SIGTERM.

set -euo pipefail

# ---------------------------------------------------------------- settings --
BENCH_ROUNDS="${BENCH_ROUNDS:-3}"
BENCH_REQUESTS="${BENCH_REQUESTS:-200000}"
BENCH_REQUESTS_PIPELINED="${BENCH_REQUESTS_PIPELINED:-1000000}"
BENCH_CONNS="${BENCH_CONNS:-50}"
BENCH_THREADS="${BENCH_THREADS:-2}"
BENCH_KEYS="${BENCH_KEYS:-100000}"
BENCH_VALUE_SIZE="${BENCH_VALUE_SIZE:-32}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-300}"
MEMCACHED_THREADS="${MEMCACHED_THREADS:-2}"
MEMCACHED_MEMORY="${MEMCACHED_MEMORY:-1024}"
MCLOAD_TARGET_DIR="${MCLOAD_TARGET_DIR:-/tmp/mcload-target}"
CAIRN_BIN="${CAIRN_BIN:-}"
CAIRN_MC_CMD="${CAIRN_MC_CMD:-}"
read -r -a PIPES <<<"${BENCH_PIPES:-1 16}"
TESTS=(set get)

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_positive BENCH_ROUNDS BENCH_REQUESTS BENCH_REQUESTS_PIPELINED BENCH_CONNS \
    BENCH_THREADS BENCH_KEYS BENCH_VALUE_SIZE BENCH_TIMEOUT MEMCACHED_THREADS MEMCACHED_MEMORY
((${#PIPES[@]} > 0)) || die "BENCH_PIPES is empty"
for p in "${PIPES[@]}"; do
    if ! [[ "$p" =~ ^[1-9][0-9]*$ ]] || ((p > 1000)); then
        die "BENCH_PIPES must be integers from 1 to 1000 (got '$p')"
    fi
done
((BENCH_KEYS <= 999999999999)) || die "BENCH_KEYS must fit in 12 digits (keys are key:%012d)"
# memcached's default item size limit is 1 MB, header and key included.
((BENCH_VALUE_SIZE <= 1000000)) || die "BENCH_VALUE_SIZE must be at most 1000000 (got $BENCH_VALUE_SIZE)"
# Every GET must hit, so memcached must hold the whole keyspace without evicting: about
# value + 100 bytes per item (key, header, slab rounding) must fit in 90% of -m.
((BENCH_KEYS * (BENCH_VALUE_SIZE + 100) <= MEMCACHED_MEMORY * 1024 * 1024 * 9 / 10)) \
    || die "BENCH_KEYS x (BENCH_VALUE_SIZE + 100) does not fit in MEMCACHED_MEMORY=${MEMCACHED_MEMORY} MB; raise it"
if [[ "$(ulimit -n)" != unlimited ]] && (($(ulimit -n) < BENCH_CONNS + 64)); then
    die "open-file limit $(ulimit -n) is too low for $BENCH_CONNS connections (ulimit -n)"
fi
if [[ -n "$CAIRN_MC_CMD" ]]; then
    [[ "$CAIRN_MC_CMD" == *"{port}"* ]] || die "CAIRN_MC_CMD must contain {port} (got '$CAIRN_MC_CMD')"
else
    resolve_cairn_bin
fi
[[ "$MCLOAD_TARGET_DIR" == /* ]] || MCLOAD_TARGET_DIR="$PWD/$MCLOAD_TARGET_DIR"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# ------------------------------------------------------------ dependencies --
command -v python3 >/dev/null || die "python3 is required (free ports and medians)"
command -v cargo >/dev/null || die "cargo is required (to build bench/mcload)"
if ! command -v memcached >/dev/null; then
    echo "==> memcached not found; installing with apt-get"
    [[ $EUID -eq 0 ]] || die "not root: install memcached yourself"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y memcached
fi

# ------------------------------------------------------------------- build --
echo "==> cargo build --release --manifest-path bench/mcload/Cargo.toml --target-dir $MCLOAD_TARGET_DIR"
cargo build --release --manifest-path bench/mcload/Cargo.toml --target-dir "$MCLOAD_TARGET_DIR"
MCLOAD="$MCLOAD_TARGET_DIR/release/mcload"
[[ -x "$MCLOAD" ]] || die "mcload binary not executable: $MCLOAD"
[[ -n "$CAIRN_MC_CMD" ]] || build_cairn

# ------------------------------------------------- servers and clean-up ----
START_SECONDS=$SECONDS
WORK="$(mktemp -d -t cairn-mcbench.XXXXXX)"   # server logs, cwd, raw results
RESULTS="$WORK/results.tsv"   # server test pipe rps requests cpu_us
: >"$RESULTS"
INSTANCES=(cairn memcached)
declare -A PID=() PORT=() RESP_PORT=() CMDLINE=() VERSION_REPLY=()   # PORT: memcached protocol
BENCH_PID=""   # mcload run in progress, if any

install_cleanup

MEMCACHED_USER=()
[[ $EUID -eq 0 ]] && MEMCACHED_USER=(-u root)   # memcached refuses to run as root without -u

server_argv() {   # server_argv INSTANCE: the server's argv, one word per line
    local mc="${PORT[$1]}" resp="${RESP_PORT[$1]}" w
    local -a words
    case "$1" in
    cairn)
        if [[ -n "$CAIRN_MC_CMD" ]]; then
            read -r -a words <<<"$CAIRN_MC_CMD"
            for w in "${words[@]}"; do printf '%s\n' "${w//\{port\}/$mc}"; done
            if [[ "$(basename -- "${words[0]}")" == memcached && $EUID -eq 0 ]] \
                && ! printf '%s\n' "${words[@]}" | grep -qx -e '-u.*' -e '--user.*'; then
                printf '%s\n' -u root
            fi
        else
            printf '%s\n' "$CAIRN_BIN" server --port "$resp" --bind 127.0.0.1 \
                --memcached-port "$mc" --save "" --appendonly no --loglevel warning
            # Cairn gets as many connection threads as memcached has workers, unless
            # CAIRN_ARGS says otherwise.
            [[ " ${CAIRN_ARGS:-} " == *" --threads "* ]] \
                || printf '%s\n' --threads "$MEMCACHED_THREADS"
            # shellcheck disable=SC2086 # CAIRN_ARGS is a list of extra words on purpose
            [[ -z "${CAIRN_ARGS:-}" ]] || printf '%s\n' ${CAIRN_ARGS}
        fi
        ;;
    memcached)
        printf '%s\n' memcached -t "$MEMCACHED_THREADS" -p "$mc" -l 127.0.0.1 \
            -m "$MEMCACHED_MEMORY" -U 0 "${MEMCACHED_USER[@]}"
        ;;
    esac
}

# wait_for_version INSTANCE: up to 20 s for a `VERSION ...` reply to `version` on the
# memcached-protocol port; 1 if the server exited first.
# shellcheck disable=SC2317 # called by start_instance
wait_for_version() {
    local inst="$1" deadline=$((SECONDS + 20)) reply
    while ((SECONDS < deadline)); do
        is_running "${PID[$inst]}" || return 1
        if reply="$(timeout 5 "$MCLOAD" --host 127.0.0.1 --port "${PORT[$inst]}" --op version \
            --timeout 2 2>/dev/null)"; then
            VERSION_REPLY[$inst]="$reply"
            return 0
        fi
        sleep 0.1
    done
    die "$inst did not answer 'version' on port ${PORT[$inst]} within 20 s"
}

# pick_ports INSTANCE (replaces lib.sh's): two distinct free ports, PORT (memcached
# protocol) and RESP_PORT (Cairn's RESP); both sockets stay open until both are chosen.
pick_ports() {
    read -r "PORT[$1]" "RESP_PORT[$1]" < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
') || die "could not pick free ports"
}

for inst in "${INSTANCES[@]}"; do start_instance "$inst" wait_for_version "'version'"; done

# ------------------------------------------------------------------ header --
requests_for() { (($1 == 1)) && echo "$BENCH_REQUESTS" || echo "$BENCH_REQUESTS_PIPELINED"; }
load_cmd() {   # load_cmd PORT OP PIPE SEED: the mcload argv, one word per line
    printf '%s\n' "$MCLOAD" --host 127.0.0.1 --port "$1" --op "$2" --pipeline "$3" \
        --conns "$BENCH_CONNS" --threads "$BENCH_THREADS" --keys "$BENCH_KEYS" \
        --value-size "$BENCH_VALUE_SIZE" --requests "$(requests_for "$3")" --seed "$4"
    [[ "$2" == get ]] && printf '%s\n' --require-hit
    return 0
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
CLK_TCK="$(getconf CLK_TCK)"

if [[ -n "$CAIRN_MC_CMD" ]]; then
    SIDE_A="CAIRN_MC_CMD (not Cairn)"
    CAIRN_VERSION="n/a (CAIRN_MC_CMD)"
else
    SIDE_A="$CAIRN_BIN"
    CAIRN_VERSION="$(timeout 5 "$CAIRN_BIN" --version 2>/dev/null </dev/null | head -n 1)" || CAIRN_VERSION=""
    [[ -n "$CAIRN_VERSION" ]] || CAIRN_VERSION="unknown"
fi

echo "== Cairn vs memcached: memcached text protocol get/set throughput"
echo "date:            $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpus:            $(nproc 2>/dev/null || echo '?'); loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cairn side:      $SIDE_A"
echo "cairn version:   $CAIRN_VERSION; 'version' reply: ${VERSION_REPLY[cairn]}"
echo "memcached:       $(memcached -V 2>/dev/null || echo unknown); 'version' reply: ${VERSION_REPLY[memcached]}"
echo "rounds:          $BENCH_ROUNDS; requests per run: $BENCH_REQUESTS at P1, $BENCH_REQUESTS_PIPELINED at P>1;" \
    "pipelines: ${PIPES[*]}"
echo "servers:"
for inst in "${INSTANCES[@]}"; do
    printf '  %-9s %s(pid %s)\n' "$inst" "${CMDLINE[$inst]}" "${PID[$inst]}"
done
if [[ -n "$CAIRN_MC_CMD" ]]; then
    echo "NOTE: CAIRN_MC_CMD is set: the 'cairn' columns below measure that command, not Cairn."
fi
echo "load, per run (GET adds --require-hit; the seed is the round number):"
for pipe in "${PIPES[@]}"; do
    echo "  $(load_cmd PORT 'set|get' "$pipe" ROUND | sed '/^--require-hit$/d' | paste -sd ' ')"
done
echo

# --------------------------------------------------------------- measuring --
# run_mcload INSTANCE WHAT ARGV...: runs mcload with run_bounded; its stdout is left in
# $WORK/load.out; dies with its output on failure.
run_mcload() {
    local inst="$1" what="$2" rc=0
    shift 2
    run_bounded "$WORK/load.out" "$WORK/load.err" "$@" || rc=$?
    if [[ $rc -ne 0 ]]; then
        is_running "${PID[$inst]}" || echo "$inst (pid ${PID[$inst]}) is no longer running" >&2
        die "$what against $inst failed (exit $rc)"
    fi
}

field() { tr ' ' '\n' <"$WORK/load.out" | awk -F= -v k="$1" '$1 == k { print $2; exit }'; }

prefill() {   # prefill INSTANCE: set every key once, so that every GET hits
    local inst="$1" n
    run_mcload "$inst" prefill "$MCLOAD" --host 127.0.0.1 --port "${PORT[$inst]}" --op set \
        --prefill --pipeline 16 --conns "$BENCH_CONNS" --threads "$BENCH_THREADS" \
        --keys "$BENCH_KEYS" --value-size "$BENCH_VALUE_SIZE"
    n="$(field requests)"
    [[ "$n" == "$BENCH_KEYS" ]] || die "prefill of $inst stored '$n' keys, expected $BENCH_KEYS"
    echo "prefill $inst: $n keys in $(field seconds) s"
}

run_one() {   # run_one INSTANCE OP PIPE ROUND: one measured run; appends to $RESULTS
    local inst="$1" op="$2" pipe="$3" round="$4" pid="${PID[$1]}" cpu_before cpu_us rps n
    local -a cmd
    is_running "$pid" || die "$inst (pid $pid) is no longer running"
    mapfile -t cmd < <(load_cmd "${PORT[$inst]}" "$op" "$pipe" "$round")
    cpu_before="$(cpu_ticks "$pid")"
    run_mcload "$inst" "mcload $op P$pipe" "${cmd[@]}"
    cpu_us=$(( ($(cpu_ticks "$pid") - cpu_before) * 1000000 / CLK_TCK ))
    rps="$(field rps)"
    n="$(field requests)"
    if ! [[ "$rps" =~ ^[0-9]+$ && "$n" =~ ^[0-9]+$ ]] || ((n != $(requests_for "$pipe"))); then
        echo "mcload output:" >&2; cat "$WORK/load.out" >&2
        die "unreadable mcload result for $inst $op P$pipe"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$inst" "$op" "$pipe" "$rps" "$n" "$cpu_us" >>"$RESULTS"
    printf '[round %d/%d] %s P%-2s %-9s %10d req/s  server CPU %6.2f us/req\n' "$round" "$BENCH_ROUNDS" \
        "${op^^}" "$pipe" "$inst" "$rps" "$(awk -v c="$cpu_us" -v n="$n" 'BEGIN { printf "%.2f", c / n }')"
}

for inst in "${INSTANCES[@]}"; do prefill "$inst"; done
echo

for ((round = 1; round <= BENCH_ROUNDS; round++)); do
    order=(cairn memcached)
    ((round % 2 == 1)) || order=(memcached cairn)
    for pipe in "${PIPES[@]}"; do
        for op in "${TESTS[@]}"; do
            for inst in "${order[@]}"; do run_one "$inst" "$op" "$pipe" "$round"; done
        done
    done
done

# ---------------------------------------------------------------- summary --
echo
echo "== Medians over $BENCH_ROUNDS round(s): $BENCH_CONNS connections ($BENCH_THREADS mcload threads)," \
    "$BENCH_KEYS keys, $BENCH_VALUE_SIZE-byte values; requests per run $BENCH_REQUESTS at P1," \
    "$BENCH_REQUESTS_PIPELINED at P>1"
[[ -z "$CAIRN_MC_CMD" ]] || echo "NOTE: the 'cairn' columns are CAIRN_MC_CMD: ${CMDLINE[cairn]}"
python3 - "$RESULTS" <<'EOF'
import statistics, sys

runs, order = {}, []
with open(sys.argv[1]) as f:
    for line in f:
        server, op, pipe, rps, n, cpu_us = line.strip().split("\t")
        if (op, pipe) not in order:
            order.append((op, pipe))
        runs.setdefault((server, op, pipe), []).append((float(rps), int(cpu_us) / int(n)))
order.sort(key=lambda k: (int(k[1]), k[0] != "set"))
med = lambda s, k, i: statistics.median(r[i] for r in runs[(s, *k)])
ratio = lambda c, m: f"{c / m:.2f}" if m > 0 else "n/a"
name = lambda k: f"{k[0].upper()} P{k[1]}"

print("throughput (requests/s; cairn/memcached > 1.00 means Cairn is faster)")
print(f"{'test':<8} {'cairn req/s':>12} {'memcached req/s':>16} {'cairn/memcached':>16}")
for k in order:
    c, m = med("cairn", k, 0), med("memcached", k, 0)
    print(f"{name(k):<8} {c:>12.0f} {m:>16.0f} {ratio(c, m):>16}")
print()
print("server CPU per request (microseconds, user + system from /proc/PID/stat over the run;")
print("median; lower is better)")
print(f"{'test':<8} {'cairn':>12} {'memcached':>16} {'cairn/memcached':>16}")
for k in order:
    c, m = med("cairn", k, 1), med("memcached", k, 1)
    print(f"{name(k):<8} {c:>12.2f} {m:>16.2f} {ratio(c, m):>16}")
EOF
echo
echo "servers: cairn: ${CMDLINE[cairn]}"
echo "         memcached: ${CMDLINE[memcached]}"
echo "versions: cairn $CAIRN_VERSION; $(memcached -V 2>/dev/null || echo 'memcached unknown')"
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wall time: $((SECONDS - START_SECONDS)) s"
exit 0
