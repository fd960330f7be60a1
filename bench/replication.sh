#!/usr/bin/env bash
# bench/replication.sh — replication, Cairn vs redis-server: full-sync time, replication lag
# under a write load, and primary write throughput with 0, 1 and 2 replicas.
#
# What it measures (one run, three parts; BENCH_PARTS picks some of them). Every server
# runs on an ephemeral port on 127.0.0.1 with persistence off and its own directory:
#
#   cairn server --port P --bind 127.0.0.1 --dir D --save "" --appendonly no
#                --repl-diskless-sync-delay 0 [CAIRN_ARGS]
#   redis-server --port P --bind 127.0.0.1 --dir D --save "" --appendonly no --daemonize no
#                --repl-diskless-sync yes --repl-diskless-sync-delay 0
#                --repl-diskless-load swapdb --enable-debug-command local
#
# Each server kind has one primary (cairn-p, redis-p) and as many replicas as any part
# attaches (cairn-r1, cairn-r2, ...: 2 by default), started empty and attached with
# REPLICAOF as each part needs. Whenever replicas are attached, the script waits until
# they are in sync and a probe write (SET then DEL of bench:probe) has reached them:
# after a diskless full sync redis-server 7 holds its stream back until the replica's
# next REPLCONF ACK (up to a second), which would otherwise leave Redis's replicas idle
# at the start of a load.
# Cairn's full sync never touches the disk and loads into a staging keyspace while the old
# data serves, so Redis's like-for-like configuration is diskless on both ends
# (repl-diskless-sync yes on the primary, repl-diskless-load swapdb on the replica).
#
#   fullsync  SYNC_KEYS keys `key:%012d` (default 1000000) with 32-byte values (the
#             32 hex digits of MD5(key number), so Redis's LZF compression of RDB strings
#             gets nothing out of them), generated once by python3 as RESP SETs and sent
#             to each primary with `redis-cli --pipe` (every reply and DBSIZE checked).
#             Then, each round, a fresh empty replica process is started and the script
#             times, from sending `REPLICAOF 127.0.0.1 PRIMARY_PORT` to the first poll of
#             the replica's INFO replication (every POLL_MS ms, default 10) showing
#             master_link_status:up and master_sync_in_progress:0. Checked after each
#             sync: the replica's DBSIZE is SYNC_KEYS, the primary's sync_full grew by
#             one, and DEBUG DIGEST is the same on both. Redis runs in the variants of
#             REDIS_SYNC_MODES (CONFIG SET before REPLICAOF):
#               redis           repl-diskless-sync yes, replica repl-diskless-load swapdb
#                               (no disk on either end, like Cairn)
#               redis-diskload  repl-diskless-sync yes, repl-diskless-load disabled
#                               (Redis 7's defaults, but delay 0: the replica writes
#                               the RDB to its disk, then loads it)
#               redis-disk      repl-diskless-sync no, repl-diskless-load disabled
#                               (fork, RDB file on the primary's disk, sent, written to
#                               the replica's disk, loaded: Redis's classic sync)
#
#   lag       One replica (LAG_REPLICAS) attached and caught up. A load runs on the primary:
#               redis-benchmark -h 127.0.0.1 -p PORT -t set -n 2000000 -r 1000000 -d 32
#                               -c 50 -P 16 --csv -q                (LAG_N, LAG_PIPE)
#             while a python3 sampler reads, every SAMPLE_MS ms (default 100), the
#             primary's master_repl_offset and then the replica's slave_repl_offset.
#             When the load has ended it polls every POLL_MS ms until the replica's offset
#             reaches the primary's offset at the end of the load (at most SYNC_TIMEOUT s).
#             Reported, over the samples taken during the load: the byte lag (primary
#             offset - replica offset) median and max; the time lag, for each sample the
#             time until the replica's offset passed that sample's primary offset
#             (interpolated between the replica's readings), median and max; the catch-up
#             time from the end of the load; the replica's CPU time per SET it applied;
#             any link-down sample or new full sync during the run. DEBUG DIGEST must
#             match after catch-up. With LAG_REPLICAS > 1 the sampler takes, at each
#             sample, the replica furthest behind, and the CPU figure is per replica.
#
#   throughput  The primary's SET throughput with 0, 1 and 2 replicas (REPLICA_COUNTS):
#               redis-benchmark -h 127.0.0.1 -p PORT -t set -n N -r 1000000 -d 32 -c 50
#                               -P PIPE --csv -q
#             PIPE 1 (N = BENCH_N, default 500000) and 16 (N = BENCH_N_PIPELINED, default
#             3000000), FLUSHALL (replicated) before each run. Replicas are attached or
#             detached (REPLICAOF NO ONE, then FLUSHALL on it) before the runs of each
#             count, and caught up (offsets equal) before each run; after each run the
#             script waits for them to catch up (time reported) and compares DEBUG DIGEST
#             of the primary and every replica. Reported: median ops/s, cairn/redis, each
#             server's own ratio with N replicas / with 0, the primary's CPU per request
#             and each replica's CPU per SET over the run and its catch-up (user + system
#             from /proc/PID/stat, reaped children included).
#
#   Rounds alternate: odd rounds run Cairn first, even rounds Redis first (fullsync: the
#   Redis variants in reverse order); the throughput part also walks the replica counts
#   up in odd rounds and down in even ones, so replicas are attached or detached once per
#   count. Medians over the rounds end the output.
#
#   If a replica never catches up, the digests differ or the key count is wrong, the
#   script prints BROKEN with INFO replication of the nodes and their log tails, stops
#   measuring that part (the replicas of that server are restarted empty for the next
#   part), and exits with status 1 after the summary. A server that exits stops the run.
#
# Threads: Cairn runs with its default `--threads` (half the cores, at least 1: 1 on a
# 2-core machine) unless CAIRN_ARGS says otherwise; redis-server with its default
# io-threads 1. The header prints what each ran with.
#
# How to run (from anywhere):
#   bash bench/replication.sh                                   # ROUNDS=3: about 6 min here
#   ROUNDS=2 BENCH_PARTS=fullsync,lag bash bench/replication.sh
#   ROUNDS=1 SYNC_KEYS=100000 LAG_N=200000 BENCH_N=50000 BENCH_N_PIPELINED=200000 \
#       bash bench/replication.sh                               # smoke run, about 20 s
#
# Settings (environment variables):
#   ROUNDS             A/B rounds of every part                          (default 3)
#   BENCH_PARTS        parts to run, comma- or space-separated
#                      (default "fullsync,lag,throughput")
#   SYNC_KEYS          keys on the primary for the full sync              (default 1000000)
#   REDIS_SYNC_MODES   Redis full-sync variants: diskless diskload disk (default all three)
#   LAG_N              SETs of the lag part's load                        (default 2000000)
#   LAG_PIPE           its pipeline depth                                 (default 16)
#   LAG_REPLICAS       replicas attached during it; with more than one the
#                      figures are the furthest-behind replica's at each sample (default 1)
#   BENCH_N            SETs per throughput run at -P 1                    (default 500000)
#   BENCH_N_PIPELINED  SETs per throughput run at -P > 1                  (default 3000000)
#   BENCH_PIPES        pipeline depths of the throughput part            (default "1 16")
#   REPLICA_COUNTS     replica counts of the throughput part             (default "0 1 2")
#   SAMPLE_MS          offset sampling interval during the load, ms       (default 100)
#   POLL_MS            polling interval for sync and catch-up, ms         (default 10)
#   SYNC_TIMEOUT       seconds allowed for a full sync or a catch-up      (default 120)
#   BENCH_TIMEOUT      seconds allowed for one load or redis-benchmark run (default 300)
#   CAIRN_BIN          use this cairn binary; skips `cargo build --release -p cairn`
#   CAIRN_ARGS         extra settings for every Cairn server, e.g. "--threads 2"
#
# Needs: bash 5, python3, redis-server, redis-cli and redis-benchmark (installed with
# apt-get if missing, as root). Every process the script starts is stopped when it exits,
# including on failure, Ctrl-C and SIGTERM, and its temporary directory is removed.

set -euo pipefail
export LC_ALL=C   # '.' as the decimal point in EPOCHREALTIME and printf

# ---------------------------------------------------------------- settings --
ROUNDS="${ROUNDS:-3}"
IFS=', ' read -r -a PARTS <<<"${BENCH_PARTS:-fullsync,lag,throughput}"   # commas or spaces
SYNC_KEYS="${SYNC_KEYS:-1000000}"
read -r -a REDIS_SYNC_MODES <<<"${REDIS_SYNC_MODES:-diskless diskload disk}"
LAG_N="${LAG_N:-2000000}"
LAG_PIPE="${LAG_PIPE:-16}"
LAG_REPLICAS="${LAG_REPLICAS:-1}"
BENCH_N="${BENCH_N:-500000}"
BENCH_N_PIPELINED="${BENCH_N_PIPELINED:-3000000}"
read -r -a PIPES <<<"${BENCH_PIPES:-1 16}"
read -r -a REPLICA_COUNTS <<<"${REPLICA_COUNTS:-0 1 2}"
SAMPLE_MS="${SAMPLE_MS:-100}"
POLL_MS="${POLL_MS:-10}"
SYNC_TIMEOUT="${SYNC_TIMEOUT:-120}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-300}"
CAIRN_BIN="${CAIRN_BIN:-}"

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_positive ROUNDS SYNC_KEYS LAG_N LAG_PIPE LAG_REPLICAS BENCH_N BENCH_N_PIPELINED SAMPLE_MS POLL_MS \
    SYNC_TIMEOUT BENCH_TIMEOUT
((SYNC_KEYS <= 999999999999)) || die "SYNC_KEYS: keys are key:%012d, at most 999999999999"
((${#PARTS[@]} > 0)) || die "BENCH_PARTS is empty"
declare -A WANT=()
for part in "${PARTS[@]}"; do
    [[ "$part" =~ ^(fullsync|lag|throughput)$ ]] \
        || die "BENCH_PARTS: unknown part '$part' (fullsync, lag, throughput)"
    WANT[$part]=1
done
for m in "${REDIS_SYNC_MODES[@]}"; do
    [[ "$m" =~ ^(diskless|diskload|disk)$ ]] \
        || die "REDIS_SYNC_MODES: unknown mode '$m' (diskless, diskload, disk)"
done
((${#PIPES[@]} > 0)) || die "BENCH_PIPES is empty"
for p in "${PIPES[@]}"; do
    if ! [[ "$p" =~ ^[1-9][0-9]*$ ]] || ((p > 1000)); then
        die "BENCH_PIPES must be integers from 1 to 1000 (got '$p')"
    fi
done
((${#REPLICA_COUNTS[@]} > 0)) || die "REPLICA_COUNTS is empty"
((LAG_REPLICAS <= 9)) || die "LAG_REPLICAS must be from 1 to 9"
MAXR=$LAG_REPLICAS   # replicas per server kind: the most any part attaches
for n in "${REPLICA_COUNTS[@]}"; do
    if ! [[ "$n" =~ ^[0-9]$ ]]; then die "REPLICA_COUNTS must be integers from 0 to 9 (got '$n')"; fi
    ((n <= MAXR)) || MAXR=$n
done
((BASH_VERSINFO[0] >= 5)) || die "bash 5 or later is required (EPOCHREALTIME)"

resolve_cairn_bin

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT/bench${PYTHONPATH:+:$PYTHONPATH}"   # the helpers import resp.py
cd "$ROOT"

# ------------------------------------------------------------ dependencies --
command -v python3 >/dev/null || die "python3 is required (load generation, polling, sampling, medians)"
ensure_redis_tools

# ------------------------------------------------------------------- build --
build_cairn

# ------------------------------------------------- servers and clean-up ----
START_SECONDS=$SECONDS
WORK="$(mktemp -d -t cairn-repl.XXXXXX)"   # data dirs, logs, load file, results
RESULTS="$WORK/results.tsv"                 # one record per measurement (kind first)
: >"$RESULTS"
INSTANCES=()
for srv in cairn redis; do
    INSTANCES+=("$srv-p")
    for ((i = 1; i <= MAXR; i++)); do INSTANCES+=("$srv-r$i"); done
done
declare -A PID=() PORT=() CMDLINE=() ATTACHED=()
BENCH_PID=""      # load, poller or redis-benchmark in progress, if any
SAMPLER_PID=""    # the lag part's sampler, running beside the load
CLEANUP_PID_VARS="SAMPLER_PID"
CHECK_FAILED=0
BROKEN=""         # set by broken(): the part being measured stops
BROKEN_LIST=()
DIGEST=""         # the last digest digests_match agreed on

install_cleanup

server_argv() {   # server_argv INSTANCE: the server's argv, one word per line
    local inst="$1" port="${PORT[$1]}" dir="$WORK/data-$1"
    case "$inst" in
    cairn-*)
        printf '%s\n' "$CAIRN_BIN" server --port "$port" --bind 127.0.0.1 --dir "$dir" \
            --save "" --appendonly no
        # Delay 0 (as Redis's below) unless CAIRN_ARGS sets it.
        [[ " ${CAIRN_ARGS:-} " == *" --repl-diskless-sync-delay "* ]] \
            || printf '%s\n' --repl-diskless-sync-delay 0
        # shellcheck disable=SC2086 # CAIRN_ARGS is a list of extra words on purpose
        [[ -z "${CAIRN_ARGS:-}" ]] || printf '%s\n' ${CAIRN_ARGS} ;;
    redis-*)
        printf '%s\n' redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" \
            --appendonly no --daemonize no --repl-diskless-sync yes \
            --repl-diskless-sync-delay 0 --repl-diskless-load swapdb \
            --enable-debug-command local ;;
    *) die "unknown instance $inst" ;;
    esac
}

start_fresh() {   # start_fresh INSTANCE: an empty server in an empty directory
    rm -rf "$WORK/data-$1"
    mkdir -p "$WORK/data-$1"
    start_instance "$1"
    ATTACHED[$1]=""
}
stop_instance() { stop_pid "${PID[$1]:-}"; PID[$1]=""; }

# ---------------------------------------------------------- python helpers --
# gen.py N: RESP `SET key:%012d <md5 hex of the number>` for 0..N-1 on stdout.
cat >"$WORK/gen.py" <<'PY'
import hashlib, sys
n, out = int(sys.argv[1]), sys.stdout.buffer
buf = []
for i in range(n):
    val = hashlib.md5(b"%d" % i).hexdigest().encode()
    buf.append(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$32\r\n%s\r\n" % (i, val))
    if len(buf) == 65536:
        out.write(b"".join(buf))
        buf.clear()
out.write(b"".join(buf))
PY

# repl.py: the replication probes, on plain sockets (python3 standard library).
#   repl.py sync REPLICA_PORT PRIMARY_PORT LIMIT POLL_MS
#       sends REPLICAOF 127.0.0.1 PRIMARY_PORT to the replica and polls its INFO
#       replication until master_link_status:up and master_sync_in_progress:0; prints
#       `seconds=S`. Exit 2 (and the last INFO fields) after LIMIT seconds.
#   repl.py catchup PRIMARY_PORT EXPECTED PROBE LIMIT POLL_MS [REPLICA_PORT...]
#       waits until the primary has EXPECTED connected replicas (all state=online) and
#       every replica's link is up with slave_repl_offset >= the primary's
#       master_repl_offset read just before it; prints `seconds=S offset=O`. With
#       PROBE=1 it first writes `SET bench:probe 1` and `DEL bench:probe` on the primary,
#       so it also waits until the stream flows. Exit 2 after LIMIT seconds, with the
#       offsets.
#   repl.py lag PRIMARY_PORT REPLICA_PORT[,REPLICA_PORT...] SAMPLE_MS POLL_MS START_FILE
#           DONE_FILE LIMIT
#       samples the offsets every SAMPLE_MS until DONE_FILE exists (it holds the load's
#       end time, START_FILE its start time, epoch seconds), then every POLL_MS until
#       the replicas reach the primary's offset read after the end; prints the figures
#       as key=value (with several replicas, of the one furthest behind at each sample).
#       Exit 3 if they have not caught up LIMIT seconds after the end.
cat >"$WORK/repl.py" <<'PY'
import os, socket, statistics, sys, time

from resp import Conn

def info(c):
    text = c.cmd("INFO", "replication")
    return dict(l.split(":", 1) for l in text.split("\r\n") if ":" in l)

def show(i):
    keys = ("role", "master_link_status", "master_sync_in_progress", "slave_repl_offset",
            "master_repl_offset", "connected_slaves")
    return " ".join(f"{k}={i.get(k)}" for k in keys if k in i)

def sync(rport, pport, limit, poll):
    r = Conn(rport)
    t0 = time.time()
    reply = r.cmd("REPLICAOF", "127.0.0.1", pport)
    if not str(reply).startswith("OK"):
        sys.exit(f"REPLICAOF replied {reply!r}")
    while True:
        i = info(r)
        t = time.time()
        if i.get("master_link_status") == "up" and i.get("master_sync_in_progress") == "0":
            print(f"seconds={t - t0:.4f}")
            return
        if t - t0 > limit:
            print(f"timeout after {limit} s: replica {show(i)}")
            sys.exit(2)
        time.sleep(poll)

def catchup(pport, expected, probe, limit, poll, rports):
    p, rs = Conn(pport), [Conn(x) for x in rports]
    t0 = time.time()
    if probe:   # two writes that leave the data as it was, for the stream to carry
        for c in (("SET", "bench:probe", "1"), ("DEL", "bench:probe")):
            reply = p.cmd(*c)
            if str(reply).startswith("ERR:"):
                sys.exit(f"{c[0]} on the primary answered {reply}")
    while True:
        pi = info(p)
        poff = int(pi["master_repl_offset"])
        online = sum(1 for k, v in pi.items() if k.startswith("slave") and k[5:].isdigit()
                     and "state=online" in v)
        ok = int(pi.get("connected_slaves", 0)) == expected and online == expected
        ris = [info(r) for r in rs]
        for ri in ris:
            ok = ok and ri.get("master_link_status") == "up" \
                and int(ri.get("slave_repl_offset", -1)) >= poff
        t = time.time()
        if ok:
            print(f"seconds={t - t0:.4f} offset={poff}")
            return
        if t - t0 > limit:
            print(f"timeout after {limit} s: primary {show(pi)};"
                  + "".join(f" replica {rports[k]}: {show(ri)};" for k, ri in enumerate(ris)))
            sys.exit(2)
        time.sleep(poll)

def lag(pport, rports, sample, poll, start_file, done_file, limit):
    p, rs = Conn(pport), [Conn(x) for x in rports]
    # (time of the primary's reading, primary offset, time of the replicas' readings, the
    # lowest replica offset, every link up); with several replicas the slowest one counts
    samples = []
    done_t = p_end = None
    nxt = time.time()
    while True:
        if done_t is None and os.path.exists(done_file):
            with open(done_file) as f:
                done_t = float(f.read())
        tp = time.time()
        poff = int(info(p)["master_repl_offset"])
        ris = [info(r) for r in rs]
        tr = time.time()
        ri = min(ris, key=lambda i: int(i.get("slave_repl_offset", -1)))
        roff = int(ri.get("slave_repl_offset", -1))
        samples.append((tp, poff, tr, roff, all(i.get("master_link_status") == "up" for i in ris)))
        if done_t is not None:
            if p_end is None:
                p_end = poff   # read after the load ended: every write of the load
            if roff >= p_end:
                caught_t = tr
                break
            if tr - done_t > limit:
                print(f"caught_up=0 primary_offset={poff} replica_offset={roff}"
                      f" replica {show(ri)} seconds_after_load={tr - done_t:.1f}")
                sys.exit(3)
            time.sleep(poll)
            continue
        nxt += sample
        # Sleep in POLL_MS slices, so the end of the load is seen within one of them.
        while time.time() < nxt and not os.path.exists(done_file):
            time.sleep(max(0.0, min(poll, nxt - time.time())))
    with open(start_file) as f:
        start_t = float(f.read())
    load = [s for s in samples if start_t <= s[0] <= done_t]
    if not load:
        sys.exit("no sample was taken during the load")

    def crossing(target):   # when the replica's offset reached target (interpolated)
        for j, s in enumerate(samples):
            if s[3] >= target:
                if j == 0:
                    return s[2]
                t0, o0 = samples[j - 1][2], samples[j - 1][3]
                return t0 + (s[2] - t0) * (target - o0) / max(1, s[3] - o0)
        return caught_t

    bytes_lag = [max(0, s[1] - s[3]) for s in load]
    time_lag = [max(0.0, crossing(s[1]) - s[0]) for s in load]
    down = sum(1 for s in samples if not s[4])
    print(f"caught_up=1 samples={len(load)} bytes_med={statistics.median(bytes_lag):.0f}"
          f" bytes_max={max(bytes_lag)} time_med={statistics.median(time_lag):.3f}"
          f" time_max={max(time_lag):.3f} catchup={caught_t - done_t:.3f}"
          f" stream_bytes={p_end - load[0][1]} link_down_samples={down}")

cmd, args = sys.argv[1], sys.argv[2:]
try:
    if cmd == "sync":
        sync(int(args[0]), int(args[1]), float(args[2]), int(args[3]) / 1000)
    elif cmd == "catchup":
        catchup(int(args[0]), int(args[1]), args[2] == "1", float(args[3]), int(args[4]) / 1000,
                [int(x) for x in args[5:]])
    elif cmd == "lag":
        lag(int(args[0]), [int(x) for x in args[1].split(",")], int(args[2]) / 1000,
            int(args[3]) / 1000, args[4], args[5], float(args[6]))
    else:
        sys.exit(f"unknown command {cmd}")
except OSError as e:
    sys.exit(f"repl.py {cmd}: {e}")
PY

# ------------------------------------------------------------------ helpers --
cli() {   # cli INSTANCE ARGS...: one redis-cli command under a time limit
    local inst="$1"
    shift
    timeout "$BENCH_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$inst]}" "$@"
}
quick_cli() { timeout 10 redis-cli -h 127.0.0.1 -p "${PORT[$1]}" "${@:2}"; }   # for diagnostics
info_field() {   # info_field INSTANCE SECTION NAME: one INFO field (empty if absent)
    cli "$1" info "$2" | tr -d '\r' | awk -F: -v k="$3" '$1 == k { print $2; exit }'
}
# cpu_ticks PID: user + system CPU of the process and its reaped children, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat"; }
CLK_TCK="$(getconf CLK_TCK)"
now() { echo "${EPOCHREALTIME/,/.}"; }
kv() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2; exit }'; }   # kv NAME "k=v ..."
replicas_of() {   # replicas_of SERVER: the attached replicas' instance names, one per line
    local i
    for ((i = 1; i <= MAXR; i++)); do
        [[ -z "${ATTACHED[$1-r$i]:-}" ]] || echo "$1-r$i"
    done
}
require_running() {   # require_running SERVER: dies if its primary or an attached replica exited
    local inst
    local -a nodes
    mapfile -t nodes < <(echo "$1-p"; replicas_of "$1")
    for inst in "${nodes[@]}"; do
        is_running "${PID[$inst]}" || die "$inst (pid ${PID[$inst]}) exited; see its log below"
    done
}

# py_bounded OUT CMD...: a repl.py probe under run_bounded; its exit status in PY_RC.
PY_RC=0
py_bounded() {
    local out="$1"
    shift
    PY_RC=0
    run_bounded "$out" "$WORK/py.err" python3 "$WORK/repl.py" "$@" 2>/dev/null || PY_RC=$?
    if [[ $PY_RC -ne 0 && $PY_RC -ne 2 && $PY_RC -ne 3 ]]; then
        cat "$WORK/py.err" >&2
        die "repl.py $1 failed (exit $PY_RC)"
    fi
}

# broken PART SERVER WHAT: reports a failed replication check with the nodes' state and
# log tails; the caller returns and the part stops.
broken() {
    local part="$1" srv="$2" what="$3" inst
    local -a nodes
    mapfile -t nodes < <(echo "$srv-p"; replicas_of "$srv")
    echo
    echo "BROKEN ($part, $srv): $what"
    for inst in "${nodes[@]}"; do
        echo "---- $inst (port ${PORT[$inst]}, pid ${PID[$inst]}): INFO replication, DBSIZE, sync counters"
        if is_running "${PID[$inst]}"; then
            { quick_cli "$inst" info replication | tr -d '\r' | grep -E '^(role|master_|slave|connected)' || true; } | sed 's/^/    /'
            echo "    dbsize: $(quick_cli "$inst" dbsize 2>&1)  $(quick_cli "$inst" info stats | tr -d '\r' | grep -E '^sync_' | paste -sd ' ')"
        else
            echo "    (not running)"
        fi
        echo "---- last lines of $inst.log"
        tail -n 15 "$WORK/$inst.log" | sed 's/\x1b\[[0-9;]*m//g; s/^/    /'
    done
    echo
    BROKEN="$part/$srv"
    BROKEN_LIST+=("$part ($srv): $what")
    CHECK_FAILED=1
}

# reset_replicas SERVER: the replicas restarted empty and detached, after a broken part.
reset_replicas() {
    local i
    for ((i = 1; i <= MAXR; i++)); do
        stop_instance "$1-r$i"
        start_fresh "$1-r$i"
    done
}

# digests_match PART SERVER: DEBUG DIGEST of the primary and every attached replica;
# broken() unless they are all the same. Prints the digest.
digests_match() {
    local part="$1" srv="$2" inst d0 d
    local -a reps
    mapfile -t reps < <(replicas_of "$srv")
    d0="$(cli "$srv-p" debug digest)"
    [[ "$d0" =~ ^[0-9a-f]{40}$ ]] || die "DEBUG DIGEST on $srv-p answered '$d0'"
    for inst in "${reps[@]}"; do
        d="$(cli "$inst" debug digest)"
        if [[ "$d" != "$d0" ]]; then
            broken "$part" "$srv" "DEBUG DIGEST differs after catch-up: $srv-p $d0, $inst $d"
            return 0
        fi
    done
    DIGEST="$d0"
}

# catch_up PART SERVER [PROBE]: waits until the attached replicas hold the primary's
# offset (PROBE=1: after two writes of a probe key, so that the stream flows); leaves the
# seconds in CATCHUP_S, or calls broken().
CATCHUP_S=""
catch_up() {
    local part="$1" srv="$2" probe="${3:-0}" inst out
    local -a ports=() reps
    mapfile -t reps < <(replicas_of "$srv")
    for inst in "${reps[@]}"; do ports+=("${PORT[$inst]}"); done
    py_bounded "$WORK/catchup.out" catchup "${PORT[$srv-p]}" "${#ports[@]}" "$probe" \
        "$SYNC_TIMEOUT" "$POLL_MS" "${ports[@]}"
    out="$(<"$WORK/catchup.out")"
    if [[ $PY_RC -ne 0 ]]; then
        require_running "$srv"
        broken "$part" "$srv" "replicas did not catch up within ${SYNC_TIMEOUT} s: $out"
        return 0
    fi
    CATCHUP_S="$(kv seconds "$out")"
}

# set_replicas PART SERVER N: replicas r1..rN attached to the primary, the others
# detached (REPLICAOF NO ONE, then FLUSHALL to give their memory back); waits until the
# attached ones are in sync and a probe write has reached them: after a diskless full
# sync, redis-server 7 holds the stream back until a replica's REPLCONF ACK arrives after
# the primary put it online (replicas ACK once a second), so a load started at once would
# find Redis's replicas idle for up to a second.
set_replicas() {
    local part="$1" srv="$2" n="$3" i inst reply
    for ((i = 1; i <= MAXR; i++)); do
        inst="$srv-r$i"
        if ((i <= n)) && [[ -z "${ATTACHED[$inst]:-}" ]]; then
            [[ $srv == cairn ]] || cli "$inst" config set repl-diskless-load swapdb >/dev/null
            reply="$(cli "$inst" replicaof 127.0.0.1 "${PORT[$srv-p]}")"
            [[ "$reply" == OK* ]] || die "REPLICAOF on $inst answered '$reply'"
            ATTACHED[$inst]=1
        elif ((i > n)) && [[ -n "${ATTACHED[$inst]:-}" ]]; then
            reply="$(cli "$inst" replicaof no one)"
            [[ "$reply" == OK* ]] || die "REPLICAOF NO ONE on $inst answered '$reply'"
            ATTACHED[$inst]=""
            [[ "$(cli "$inst" flushall)" == OK ]] || die "FLUSHALL on $inst failed"
        fi
    done
    catch_up "$part" "$srv" 1
}

bench_cmd() {   # bench_cmd PORT N PIPE: the redis-benchmark argv, one word per line
    printf '%s\n' redis-benchmark -h 127.0.0.1 -p "$1" -t set -n "$2" -r 1000000 -d 32 \
        -c 50 -P "$3" --csv -q
}
bench_rps() {   # bench_rps: the SET ops/s of $WORK/bench.out
    local rps
    # CSV: "SET","123.45",... (v7, after a header line) or "SET","123.45" (older).
    rps="$(tr -d '\r' <"$WORK/bench.out" | awk -F'"' '$2 == "SET" { print $4; exit }')"
    if ! [[ "$rps" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
        cat "$WORK/bench.out" >&2
        die "no SET rps in the redis-benchmark output"
    fi
    echo "$rps"
}
run_bench() {   # run_bench SERVER N PIPE: one redis-benchmark run against the primary
    local rc=0
    local -a cmd
    mapfile -t cmd < <(bench_cmd "${PORT[$1-p]}" "$2" "$3")
    run_bounded "$WORK/bench.out" "$WORK/bench.err" "${cmd[@]}" || rc=$?
    if [[ $rc -ne 0 ]]; then
        require_running "$1"
        die "redis-benchmark against $1-p failed (exit $rc)"
    fi
}

# --------------------------------------------------------------- start-up --
for inst in "${INSTANCES[@]}"; do start_fresh "$inst"; done

CAIRN_VERSION="$(timeout 5 "$CAIRN_BIN" --version 2>/dev/null </dev/null | head -n 1)" || CAIRN_VERSION=""
[[ -n "$CAIRN_VERSION" ]] || CAIRN_VERSION="unknown"
CAIRN_THREADS="$(cli cairn-p config get threads | tail -n 1)"
REDIS_IO_THREADS="$(cli redis-p config get io-threads | tail -n 1)"

echo "== Cairn vs Redis: replication (full sync, lag under load, primary throughput with replicas)"
echo "date:            $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpus:            $(nproc 2>/dev/null || echo '?'); loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cairn binary:    $CAIRN_BIN"
echo "cairn version:   $CAIRN_VERSION"
echo "redis-server:    $(redis-server --version)"
echo "redis-benchmark: $(redis-benchmark --version 2>/dev/null || echo unknown)"
echo "threads:         cairn threads $CAIRN_THREADS (every node), redis-server io-threads $REDIS_IO_THREADS"
echo "parts:           ${PARTS[*]}; rounds: $ROUNDS"
echo "servers (replicas are the same command on their own port and directory):"
for inst in cairn-p redis-p; do
    printf '  %-8s %s\n' "$inst" "${CMDLINE[$inst]}"
done
echo

# --------------------------------------------------------- part 1: fullsync --
# load_keys INSTANCE FILE N: sends FILE with redis-cli --pipe; checks the replies and DBSIZE.
load_keys() {
    local inst="$1" file="$2" n="$3" rc=0 summary
    # Not run_bounded: a background command's stdin would be /dev/null.
    timeout "$BENCH_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$inst]}" --pipe \
        <"$file" >"$WORK/load.out" 2>"$WORK/load.err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=""
    summary="$(tr -d '\r' <"$WORK/load.out" | grep -E '^errors: ' || true)"
    if [[ $rc -ne 0 || "$summary" != "errors: 0, replies: $n" ]]; then
        cat "$WORK/load.out" "$WORK/load.err" >&2
        die "loading $n keys into $inst failed (exit $rc)"
    fi
    [[ "$(cli "$inst" dbsize)" == "$n" ]] || die "$inst: DBSIZE is not $n after the load"
}

fullsync_one() {   # fullsync_one VARIANT ROUND: one timed full sync of a fresh replica
    local variant="$1" round="$2" srv="${1%%-*}" out secs keys full0 full1 rss
    local primary="${1%%-*}-p" replica="${1%%-*}-r1"
    require_running "$srv"
    # A fresh empty process, so the sync can only be a full one.
    stop_instance "$replica"
    start_fresh "$replica"
    if [[ $srv == redis ]]; then
        case "$variant" in
        redis) cli "$primary" config set repl-diskless-sync yes >/dev/null
               cli "$replica" config set repl-diskless-load swapdb >/dev/null ;;
        redis-diskload) cli "$primary" config set repl-diskless-sync yes >/dev/null
               cli "$replica" config set repl-diskless-load disabled >/dev/null ;;
        redis-disk) cli "$primary" config set repl-diskless-sync no >/dev/null
               cli "$replica" config set repl-diskless-load disabled >/dev/null ;;
        esac
    fi
    [[ "$(cli "$primary" dbsize)" == "$SYNC_KEYS" ]] || die "$primary: DBSIZE is not $SYNC_KEYS"
    full0="$(info_field "$primary" stats sync_full)"
    py_bounded "$WORK/sync.out" sync "${PORT[$replica]}" "${PORT[$primary]}" "$SYNC_TIMEOUT" "$POLL_MS"
    out="$(<"$WORK/sync.out")"
    ATTACHED[$replica]=1
    if [[ $PY_RC -ne 0 ]]; then
        require_running "$srv"
        broken fullsync "$srv" "$variant: the replica's link was not up ${SYNC_TIMEOUT} s after REPLICAOF: $out"
        return 0
    fi
    secs="$(kv seconds "$out")"
    keys="$(cli "$replica" dbsize)"
    full1="$(info_field "$primary" stats sync_full)"
    rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/${PID[$replica]}/status")"
    if [[ "$keys" != "$SYNC_KEYS" ]]; then
        broken fullsync "$srv" "$variant: the replica holds $keys keys after the sync, not $SYNC_KEYS"
        return 0
    fi
    if ((full1 != full0 + 1)); then
        broken fullsync "$srv" "$variant: the primary's sync_full went from $full0 to $full1, not up by one"
        return 0
    fi
    digests_match fullsync "$srv"
    [[ -z "$BROKEN" ]] || return 0
    if [[ $srv == redis ]]; then   # back to the like-for-like settings for the other parts
        cli "$primary" config set repl-diskless-sync yes >/dev/null
        cli "$replica" config set repl-diskless-load swapdb >/dev/null
    fi
    printf 'fullsync\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$round" "$secs" "$keys" "$rss" >>"$RESULTS"
    printf '[round %d/%d] full sync %-15s %7.3f s  %s keys on the replica (%.0f keys/s), replica RSS %d MiB, digest %s ok\n' \
        "$round" "$ROUNDS" "$variant" "$secs" "$keys" \
        "$(awk -v k="$keys" -v s="$secs" 'BEGIN { print k / s }')" "$((rss / 1024))" "${DIGEST:0:12}"
}

if [[ -n "${WANT[fullsync]:-}" ]]; then
    VARIANTS=(cairn)
    for m in "${REDIS_SYNC_MODES[@]}"; do
        case "$m" in
        diskless) VARIANTS+=(redis) ;;
        diskload) VARIANTS+=(redis-diskload) ;;
        disk) VARIANTS+=(redis-disk) ;;
        esac
    done
    echo "==> full sync: $SYNC_KEYS keys key:%012d, 32-byte values, on each primary"
    t0="$(now)"
    python3 "$WORK/gen.py" "$SYNC_KEYS" >"$WORK/load.resp"
    echo "    generated $(du -h "$WORK/load.resp" | cut -f1) of RESP in $(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.1f}")' "$t0" "$(now)") s"
    for srv in cairn redis; do
        set_replicas fullsync "$srv" 0
        [[ "$(cli "$srv-p" flushall)" == OK ]] || die "FLUSHALL on $srv-p failed"
        load_keys "$srv-p" "$WORK/load.resp" "$SYNC_KEYS"
    done
    rm -f "$WORK/load.resp"
    echo "    timed: REPLICAOF 127.0.0.1 PRIMARY_PORT sent to a fresh empty replica, until its INFO"
    echo "    replication shows master_link_status:up and master_sync_in_progress:0 (polled every $POLL_MS ms)"
    echo "    redis: repl-diskless-sync yes + repl-diskless-load swapdb; redis-diskload: yes + disabled;"
    echo "    redis-disk: repl-diskless-sync no + repl-diskless-load disabled; delay 0 everywhere"
    for ((round = 1; round <= ROUNDS; round++)); do
        [[ -z "$BROKEN" ]] || break
        order=("${VARIANTS[@]}")
        if ((round % 2 == 0)); then
            order=()
            for ((i = ${#VARIANTS[@]} - 1; i >= 0; i--)); do order+=("${VARIANTS[$i]}"); done
        fi
        for variant in "${order[@]}"; do
            fullsync_one "$variant" "$round"
            [[ -z "$BROKEN" ]] || break
        done
    done
    if [[ -n "$BROKEN" ]]; then reset_replicas "${BROKEN#*/}"; BROKEN=""; fi
    echo
fi

# --------------------------------------------------------------- part 2: lag --
lag_one() {   # lag_one SERVER ROUND: the load with LAG_REPLICAS replicas, offsets sampled
    local srv="$1" round="$2" primary="$1-p" out rc=0 rps full0 full1 inst
    local rcpu0=0 rcpu_us=0 pcpu0 pcpu_us sampler_rc=0 rports=""
    local -a cmd reps
    set_replicas lag "$srv" "$LAG_REPLICAS"
    [[ -z "$BROKEN" ]] || return 0
    mapfile -t reps < <(replicas_of "$srv")
    for inst in "${reps[@]}"; do rports+="${rports:+,}${PORT[$inst]}"; done
    full0="$(info_field "$primary" stats sync_full)"
    rm -f "$WORK/start" "$WORK/done"
    timeout "$((BENCH_TIMEOUT + SYNC_TIMEOUT + 30))" python3 "$WORK/repl.py" lag \
        "${PORT[$primary]}" "$rports" "$SAMPLE_MS" "$POLL_MS" "$WORK/start" \
        "$WORK/done" "$SYNC_TIMEOUT" >"$WORK/lag.out" 2>"$WORK/lag.err" &
    SAMPLER_PID=$!
    sleep 0.3   # the sampler connects and takes its first readings
    for inst in "${reps[@]}"; do rcpu0=$((rcpu0 + $(cpu_ticks "${PID[$inst]}"))); done
    pcpu0="$(cpu_ticks "${PID[$primary]}")"
    mapfile -t cmd < <(bench_cmd "${PORT[$primary]}" "$LAG_N" "$LAG_PIPE")
    now >"$WORK/start"
    run_bounded "$WORK/bench.out" "$WORK/bench.err" "${cmd[@]}" || rc=$?
    now >"$WORK/done.tmp"
    mv "$WORK/done.tmp" "$WORK/done"
    [[ $rc -eq 0 ]] || { require_running "$srv"; die "redis-benchmark against $primary failed (exit $rc)"; }
    rps="$(bench_rps)"
    wait "$SAMPLER_PID" || sampler_rc=$?
    SAMPLER_PID=""
    for inst in "${reps[@]}"; do rcpu_us=$((rcpu_us + $(cpu_ticks "${PID[$inst]}"))); done
    rcpu_us=$(( (rcpu_us - rcpu0) * 1000000 / CLK_TCK / LAG_REPLICAS ))   # per replica
    pcpu_us=$(( ($(cpu_ticks "${PID[$primary]}") - pcpu0) * 1000000 / CLK_TCK ))
    out="$(<"$WORK/lag.out")"
    full1="$(info_field "$primary" stats sync_full)"
    if [[ $sampler_rc -eq 3 ]]; then
        require_running "$srv"
        broken lag "$srv" "the replicas had not caught up ${SYNC_TIMEOUT} s after the load ended: $out (full syncs during the run: $((full1 - full0)))"
        return 0
    fi
    if [[ $sampler_rc -ne 0 || "$out" != caught_up=1* ]]; then
        cat "$WORK/lag.out" "$WORK/lag.err" >&2
        require_running "$srv"
        die "the lag sampler failed (exit $sampler_rc)"
    fi
    digests_match lag "$srv"
    [[ -z "$BROKEN" ]] || return 0
    printf 'lag\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$round" "$rps" "$rcpu_us" "$pcpu_us" \
        "$((full1 - full0))" "$out" >>"$RESULTS"
    printf '[round %d/%d] lag %-5s load %8.0f ops/s | byte lag median %s max %s | time lag median %s s max %s s | caught up %s s after the load | CPU per replica %.2f us/SET | full syncs %d, link-down samples %s | digest %s ok\n' \
        "$round" "$ROUNDS" "$srv" "$rps" "$(kv bytes_med "$out")" "$(kv bytes_max "$out")" \
        "$(kv time_med "$out")" "$(kv time_max "$out")" "$(kv catchup "$out")" \
        "$(awk -v c="$rcpu_us" -v n="$LAG_N" 'BEGIN { printf "%.2f", c / n }')" \
        "$((full1 - full0))" "$(kv link_down_samples "$out")" "${DIGEST:0:12}"
}

if [[ -n "${WANT[lag]:-}" ]]; then
    echo "==> lag under load, $LAG_REPLICAS replica(s): $(bench_cmd PORT "$LAG_N" "$LAG_PIPE" | paste -sd ' ')"
    echo "    offsets sampled every $SAMPLE_MS ms (primary master_repl_offset, then replica slave_repl_offset;"
    echo "    with several replicas the one furthest behind)"
    for ((round = 1; round <= ROUNDS; round++)); do
        [[ -z "$BROKEN" ]] || break
        order=(cairn redis)
        ((round % 2 == 1)) || order=(redis cairn)
        for srv in "${order[@]}"; do
            lag_one "$srv" "$round"
            [[ -z "$BROKEN" ]] || break
        done
    done
    if [[ -n "$BROKEN" ]]; then reset_replicas "${BROKEN#*/}"; BROKEN=""; fi
    echo
fi

# -------------------------------------------------------- part 3: throughput --
requests_for() { if (($1 == 1)); then echo "$BENCH_N"; else echo "$BENCH_N_PIPELINED"; fi; }

tput_one() {   # tput_one SERVER N PIPE ROUND: one measured run with N replicas attached
    local srv="$1" nrep="$2" pipe="$3" round="$4" primary="$1-p" n rps cpu0 cpu_us inst
    local rcpu0=0 rcpu_us=0
    local -a reps
    n="$(requests_for "$pipe")"
    require_running "$srv"
    mapfile -t reps < <(replicas_of "$srv")
    [[ "$(cli "$primary" flushall)" == OK ]] || die "FLUSHALL on $primary failed"
    catch_up throughput "$srv"
    [[ -z "$BROKEN" ]] || return 0
    for inst in "${reps[@]}"; do rcpu0=$((rcpu0 + $(cpu_ticks "${PID[$inst]}"))); done
    cpu0="$(cpu_ticks "${PID[$primary]}")"
    run_bench "$srv" "$n" "$pipe"
    cpu_us=$(( ($(cpu_ticks "${PID[$primary]}") - cpu0) * 1000000 / CLK_TCK ))
    rps="$(bench_rps)"
    catch_up throughput "$srv"
    [[ -z "$BROKEN" ]] || return 0
    # The replicas' CPU over the run and their catch-up, per replica.
    for inst in "${reps[@]}"; do rcpu_us=$((rcpu_us + $(cpu_ticks "${PID[$inst]}"))); done
    ((nrep == 0)) || rcpu_us=$(( (rcpu_us - rcpu0) * 1000000 / CLK_TCK / nrep ))
    if ((nrep > 0)); then
        digests_match throughput "$srv"
        [[ -z "$BROKEN" ]] || return 0
    fi
    printf 'tput\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$nrep" "$pipe" "$round" "$rps" \
        "$cpu_us" "$n" "$CATCHUP_S" "$rcpu_us" >>"$RESULTS"
    printf '[round %d/%d] SET P%-2s %d replica(s) %-5s %9.0f ops/s  primary CPU %5.2f us/req%s\n' \
        "$round" "$ROUNDS" "$pipe" "$nrep" "$srv" "$rps" \
        "$(awk -v c="$cpu_us" -v n="$n" 'BEGIN { printf "%.2f", c / n }')" \
        "$( ((nrep == 0)) || awk -v c="$rcpu_us" -v n="$n" -v s="$CATCHUP_S" 'BEGIN {
            printf "  each replica %5.2f us/SET, caught up %.3f s after the run, digests ok", c / n, s }')"
}

if [[ -n "${WANT[throughput]:-}" ]]; then
    echo "==> primary throughput with ${REPLICA_COUNTS[*]} replica(s); FLUSHALL before each run"
    for pipe in "${PIPES[@]}"; do
        echo "    $(bench_cmd PORT "$(requests_for "$pipe")" "$pipe" | paste -sd ' ')"
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        [[ -z "$BROKEN" ]] || break
        counts=("${REPLICA_COUNTS[@]}")
        if ((round % 2 == 0)); then
            counts=()
            for ((i = ${#REPLICA_COUNTS[@]} - 1; i >= 0; i--)); do counts+=("${REPLICA_COUNTS[$i]}"); done
        fi
        order=(cairn redis)
        ((round % 2 == 1)) || order=(redis cairn)
        for nrep in "${counts[@]}"; do
            for srv in "${order[@]}"; do
                set_replicas throughput "$srv" "$nrep"
                [[ -z "$BROKEN" ]] || break 2
            done
            for pipe in "${PIPES[@]}"; do
                for srv in "${order[@]}"; do
                    tput_one "$srv" "$nrep" "$pipe" "$round"
                    [[ -z "$BROKEN" ]] || break 3
                done
            done
        done
    done
    if [[ -n "$BROKEN" ]]; then reset_replicas "${BROKEN#*/}"; BROKEN=""; fi
    echo
fi

# ---------------------------------------------------------------- summary --
echo "== Summary (medians over the rounds; cairn threads $CAIRN_THREADS, redis io-threads $REDIS_IO_THREADS)"
python3 - "$RESULTS" "$ROUNDS" "$SYNC_KEYS" "$LAG_N" "$LAG_PIPE" "$LAG_REPLICAS" <<'EOF'
import statistics, sys
from collections import defaultdict

fullsync, lag, tput = defaultdict(list), defaultdict(list), defaultdict(list)
with open(sys.argv[1]) as f:
    for line in f:
        rec = line.rstrip("\n").split("\t")
        if rec[0] == "fullsync":
            _, variant, _r, secs, keys, rss = rec
            fullsync[variant].append((float(secs), int(keys), int(rss)))
        elif rec[0] == "lag":
            _, srv, _r, rps, rcpu, pcpu, fulls, kvs = rec
            d = dict(x.split("=", 1) for x in kvs.split())
            lag[srv].append(dict(rps=float(rps), rcpu=int(rcpu), pcpu=int(pcpu), fulls=int(fulls),
                                 **{k: float(v) for k, v in d.items()}))
        elif rec[0] == "tput":
            _, srv, nrep, pipe, _r, rps, cpu, n, catchup, rcpu = rec
            tput[(srv, int(nrep), int(pipe))].append((float(rps), int(cpu) / int(n), float(catchup),
                                                       int(rcpu) / int(n)))

med = statistics.median
ratio = lambda a, b: f"{a / b:.2f}" if b > 0 else "n/a"
rounds, keys, lag_n, lag_pipe, lag_reps = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]

if fullsync:
    print(f"Full sync of {keys} keys to an empty replica: REPLICAOF to master_link_status:up,"
          f" median of {rounds} round(s)")
    print(f"{'variant':<15} {'median s':>9} {'min s':>7} {'max s':>7} {'keys/s':>10}"
          f" {'replica RSS MiB':>16} {'time / cairn':>13}")
    base = med(r[0] for r in fullsync["cairn"]) if "cairn" in fullsync else 0
    for v in ("cairn", "redis", "redis-diskload", "redis-disk"):
        if v not in fullsync:
            continue
        runs = fullsync[v]
        s = med(r[0] for r in runs)
        print(f"{v:<15} {s:>9.3f} {min(r[0] for r in runs):>7.3f} {max(r[0] for r in runs):>7.3f}"
              f" {keys / s:>10.0f} {med(r[2] for r in runs) / 1024:>16.1f} {ratio(s, base) if base else 'n/a':>13}")
    print()

if lag:
    print(f"Replication lag, {lag_reps} replica(s), load redis-benchmark SET -n {lag_n} -c 50 -P {lag_pipe} -d 32;"
          f" median over {rounds} round(s) of each run's figure ('max' columns: the largest of the runs)")
    hdr = (f"{'server':<6} {'load ops/s':>10} {'bytes med':>10} {'bytes max':>10} {'lag s med':>10}"
           f" {'lag s max':>10} {'catch-up s':>10} {'replica us/SET':>14} {'primary us/SET':>14}"
           f" {'full syncs':>10} {'link down':>9}")
    print(hdr)
    m = {}
    for srv in ("cairn", "redis"):
        if srv not in lag:
            continue
        runs = lag[srv]
        m[srv] = dict(rps=med(r["rps"] for r in runs), bmed=med(r["bytes_med"] for r in runs),
                      bmax=max(r["bytes_max"] for r in runs), tmed=med(r["time_med"] for r in runs),
                      tmax=max(r["time_max"] for r in runs), catchup=med(r["catchup"] for r in runs),
                      rcpu=med(r["rcpu"] for r in runs) / lag_n, pcpu=med(r["pcpu"] for r in runs) / lag_n,
                      fulls=sum(r["fulls"] for r in runs),
                      down=sum(r["link_down_samples"] for r in runs))
        x = m[srv]
        print(f"{srv:<6} {x['rps']:>10.0f} {x['bmed']:>10.0f} {x['bmax']:>10.0f} {x['tmed']:>10.3f}"
              f" {x['tmax']:>10.3f} {x['catchup']:>10.3f} {x['rcpu']:>14.2f} {x['pcpu']:>14.2f}"
              f" {x['fulls']:>10} {x['down']:>9.0f}")
    if len(m) == 2:
        c, r = m["cairn"], m["redis"]
        print(f"{'c/r':<6} {ratio(c['rps'], r['rps']):>10} {ratio(c['bmed'], r['bmed']):>10}"
              f" {ratio(c['bmax'], r['bmax']):>10} {ratio(c['tmed'], r['tmed']):>10}"
              f" {ratio(c['tmax'], r['tmax']):>10} {ratio(c['catchup'], r['catchup']):>10}"
              f" {ratio(c['rcpu'], r['rcpu']):>14} {ratio(c['pcpu'], r['pcpu']):>14}")
    print()

if tput:
    pipes = sorted({k[2] for k in tput})
    counts = sorted({k[1] for k in tput})
    print(f"Primary SET throughput with replicas: redis-benchmark -c 50 -d 32 -r 1000000, median of {rounds} round(s)")
    print(f"{'test':<8} {'replicas':>8} {'cairn ops/s':>12} {'redis ops/s':>12} {'cairn/redis':>12}"
          f" {'cairn vs 0':>11} {'redis vs 0':>11} {'cairn us/req':>13} {'redis us/req':>13}"
          f" {'replica us/SET c/r':>19} {'catch-up s c/r':>15}")
    for p in pipes:
        for n in counts:
            row = {}
            for srv in ("cairn", "redis"):
                runs = tput.get((srv, n, p))
                row[srv] = tuple(med(x[i] for x in runs) for i in range(4)) if runs else None
            base = {srv: tput.get((srv, 0, p)) for srv in ("cairn", "redis")}
            def fmt(srv, i, spec):
                return format(row[srv][i], spec) if row[srv] else "-"
            def vs0(srv):
                if not row[srv] or not base[srv]:
                    return "-"
                return ratio(row[srv][0], med(x[0] for x in base[srv]))
            both = row["cairn"] and row["redis"]
            catch = (f"{row['cairn'][2]:.3f}/{row['redis'][2]:.3f}" if both and n > 0 else "-")
            rcpu = (f"{row['cairn'][3]:.2f}/{row['redis'][3]:.2f}" if both and n > 0 else "-")
            print(f"{'SET P' + str(p):<8} {n:>8} {fmt('cairn', 0, '.0f'):>12} {fmt('redis', 0, '.0f'):>12}"
                  f" {ratio(row['cairn'][0], row['redis'][0]) if both else '-':>12}"
                  f" {vs0('cairn'):>11} {vs0('redis'):>11} {fmt('cairn', 1, '.2f'):>13}"
                  f" {fmt('redis', 1, '.2f'):>13} {rcpu:>19} {catch:>15}")
    print("(us/req: the primary's CPU per SET, user + system; replica us/SET: each replica's CPU per SET")
    print(" over the run and its catch-up; catch-up s: from the end of the run until every replica held")
    print(" the primary's offset)")
EOF
echo
echo "versions: $CAIRN_VERSION; $(redis-server --version)"
[[ -z "${CAIRN_ARGS:-}" ]] || echo "CAIRN_ARGS: $CAIRN_ARGS"
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wall time: $((SECONDS - START_SECONDS)) s"
if ((${#BROKEN_LIST[@]} > 0)); then
    echo
    echo "BROKEN, measuring stopped in these parts:"
    printf '  %s\n' "${BROKEN_LIST[@]}"
    exit 1
fi
exit 0
