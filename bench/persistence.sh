#!/usr/bin/env bash
# bench/persistence.sh — persistence costs, Cairn vs redis-server: restart from a snapshot,
# memory during BGSAVE, and write throughput with the append-only file.
#
# What it measures (one run, three parts; BENCH_PARTS picks some of them)
#
#   restart  For each size N (default 1000000; with BENCH_BIG=1 also 10000000): N keys
#            `key:%012d` with 32-byte values, generated once as RESP `SET` commands by
#            python3 and sent with `redis-cli --pipe` (every reply checked) to a fresh
#            server with its own directory; then `SAVE` (timed), and the server is stopped
#            (SIGTERM; neither saves at shutdown, both run with `--save ""`). The server is
#            then started again on the same directory BENCH_RESTARTS times (A/B: odd
#            restarts cairn first, even ones redis first), and each time the script
#            measures the wall time from launching the process to the first `+PONG` (a
#            python3 poller sends PING every 5 ms; Redis answers -LOADING while it loads).
#            Reported: median wall time, keys loaded per second (N / wall time), the
#            server's own figure (Cairn's `loaded N keys from F in X s`, Redis's
#            `DB loaded from disk: X seconds`), snapshot size, SAVE time, and RSS after
#            the restart. DBSIZE must be N after every restart. The snapshot file has just
#            been written, so it is read from the page cache (no cache dropping here).
#              cairn server --dir D --dbfilename dump.rdb
#              redis-server --save "" --appendonly no --dir D --dbfilename dump.rdb
#
#   bgsave   On the first size, each server started from its snapshot gets one `BGSAVE`
#            with no other load. A python3 sampler reads VmRSS from /proc/PID/status
#            every BENCH_SAMPLE_MS ms (default 10) — for redis-server the parent's plus
#            its fork children's (found with /proc/PID/task/*/children, else pgrep -P) —
#            and polls INFO persistence until rdb_bgsave_in_progress:0 and rdb_saves has
#            grown (rdb_last_bgsave_status must be ok). Reported: RSS before, peak RSS,
#            peak/before; and the same with Pss (/proc/PID/smaps_rollup, summed), which
#            counts a page shared by Redis's parent and child once: the RSS sum counts it
#            twice, so for a fork the Pss figure is the physical memory, the RSS sum the
#            "both processes' RSS" view.
#
#   aof      Write throughput with the append-only file:
#              redis-benchmark -h 127.0.0.1 -p PORT -t set -n N -r 1000000 -c 50 -P PIPE --csv -q
#            (PIPE 1 and 16; N = BENCH_N at P1, BENCH_N_PIPELINED at P>1) against
#              cairn-aof    cairn server --appendonly yes --appendfsync everysec --dir D1
#              redis-aof    redis-server --save "" --appendonly yes --appendfsync everysec --dir D2
#            and, for reference (what the AOF costs), the same load with the AOF off:
#              cairn-noaof  cairn server --appendonly no
#              redis-noaof  redis-server --save "" --appendonly no   (BENCH_AOF_REF)
#            All run at once on their own ports; FLUSHALL before every run. Rounds
#            alternate the order (odd rounds in the order above, even rounds reversed).
#            Reported: median SET ops/s, ratios cairn/redis and aof/noaof, server CPU per
#            request (user + system of the process and its reaped children, so Redis's
#            rewrite fork counts), and AOF rewrites during the runs. Both servers rewrite
#            at the same defaults (100% growth, 64 MB minimum).
#
#   A summary table of every figure ends the output.
#
# How to run (from anywhere):
#   CAIRN_BIN=target/release/cairn bash bench/persistence.sh        # about 3 minutes here
#   BENCH_BIG=1 bash bench/persistence.sh   # adds 10M keys: ~2 more minutes, ~1.5 GB RAM, ~2 GB disk
#   BENCH_PARTS=aof BENCH_ROUNDS=1 BENCH_N=100000 bash bench/persistence.sh   # quick AOF check
#
# Settings (environment variables):
#   BENCH_SIZES        key counts for the restart part, space-separated
#                      (default "1000000"; "1000000 10000000" with BENCH_BIG=1)
#   BENCH_BIG          1: also 10M keys (ignored when BENCH_SIZES is set)   (default 0)
#   BENCH_RESTARTS     timed restarts per server and size                  (default 3)
#   BENCH_PARTS        which parts, space-separated (default "restart bgsave aof")
#   BENCH_SAMPLE_MS    RSS sampling interval during BGSAVE, ms              (default 10)
#   BENCH_ROUNDS       A/B rounds of the AOF part                           (default 2)
#   BENCH_N            SET requests per AOF run at P1                       (default 1000000)
#   BENCH_N_PIPELINED  SET requests per AOF run at P>1                      (default 1000000)
#   BENCH_PIPES        pipeline depths of the AOF part                      (default "1 16")
#   BENCH_AOF_REF      servers also run with the AOF off: "cairn", "cairn redis" or ""
#                      (default "cairn redis")
#   BENCH_TIMEOUT      time limit in seconds for one load, SAVE, BGSAVE or
#                      redis-benchmark run                                  (default 300)
#   BENCH_START_TIMEOUT  time limit in seconds for a server to answer PING after a
#                      start (it may be loading 10M keys)                   (default 120)
#   CAIRN_BIN          use this cairn binary; skips `cargo build --release -p cairn`
#                      (default: target/release/cairn, built by this script)
#   CAIRN_ARGS         extra settings for every Cairn server, e.g. "--threads 2"
#
# Needs: bash 5, python3, redis-server, redis-cli and redis-benchmark (installed with
# apt-get if missing, as root). Everything listens on ephemeral ports on 127.0.0.1 and
# writes under one temporary directory, removed at exit. Every process the script starts
# is stopped when it exits, including on failure, Ctrl-C and SIGTERM.

set -euo pipefail
export LC_ALL=C   # '.' as the decimal point in EPOCHREALTIME and printf

# ---------------------------------------------------------------- settings --
BENCH_BIG="${BENCH_BIG:-0}"
if [[ "$BENCH_BIG" == 1 ]]; then DEFAULT_SIZES="1000000 10000000"; else DEFAULT_SIZES="1000000"; fi
read -r -a SIZES <<<"${BENCH_SIZES:-$DEFAULT_SIZES}"
BENCH_RESTARTS="${BENCH_RESTARTS:-3}"
read -r -a PARTS <<<"${BENCH_PARTS:-restart bgsave aof}"
BENCH_SAMPLE_MS="${BENCH_SAMPLE_MS:-10}"
BENCH_ROUNDS="${BENCH_ROUNDS:-2}"
BENCH_N="${BENCH_N:-1000000}"
BENCH_N_PIPELINED="${BENCH_N_PIPELINED:-1000000}"
read -r -a PIPES <<<"${BENCH_PIPES:-1 16}"
read -r -a AOF_REF <<<"${BENCH_AOF_REF-cairn redis}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-300}"
BENCH_START_TIMEOUT="${BENCH_START_TIMEOUT:-120}"
CAIRN_BIN="${CAIRN_BIN:-}"

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ "$BENCH_BIG" == 0 || "$BENCH_BIG" == 1 ]] || die "BENCH_BIG must be 0 or 1 (got '$BENCH_BIG')"
require_positive BENCH_RESTARTS BENCH_SAMPLE_MS BENCH_ROUNDS BENCH_N BENCH_N_PIPELINED \
    BENCH_TIMEOUT BENCH_START_TIMEOUT
((${#SIZES[@]} > 0)) || die "BENCH_SIZES is empty"
for n in "${SIZES[@]}"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SIZES must be positive integers (got '$n')"
    ((n <= 999999999999)) || die "BENCH_SIZES: keys are key:%012d, at most 999999999999"
done
((${#PARTS[@]} > 0)) || die "BENCH_PARTS is empty"
declare -A WANT=()
for part in "${PARTS[@]}"; do
    [[ "$part" =~ ^(restart|bgsave|aof)$ ]] || die "BENCH_PARTS: unknown part '$part' (restart, bgsave, aof)"
    WANT[$part]=1
done
((${#PIPES[@]} > 0)) || die "BENCH_PIPES is empty"
for p in "${PIPES[@]}"; do
    if ! [[ "$p" =~ ^[1-9][0-9]*$ ]] || ((p > 1000)); then
        die "BENCH_PIPES must be integers from 1 to 1000 (got '$p')"
    fi
done
for s in "${AOF_REF[@]}"; do
    [[ "$s" == cairn || "$s" == redis ]] || die "BENCH_AOF_REF may name cairn and redis (got '$s')"
done
((BASH_VERSINFO[0] >= 5)) || die "bash 5 or later is required (EPOCHREALTIME)"

resolve_cairn_bin

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# ------------------------------------------------------------ dependencies --
command -v python3 >/dev/null || die "python3 is required (load generation, timing, sampling, medians)"
ensure_redis_tools

# ------------------------------------------------------------------- build --
build_cairn

# ------------------------------------------------- servers and clean-up ----
START_SECONDS=$SECONDS
WORK="$(mktemp -d -t cairn-persist.XXXXXX)"   # data dirs, logs, load files, results
RESULTS="$WORK/results.tsv"                    # one record per measurement (kind first)
: >"$RESULTS"
INSTANCES=(cairn redis cairn-aof redis-aof cairn-noaof redis-noaof)
declare -A PID=() PORT=() CMDLINE=()
BENCH_PID=""   # load, poller, sampler or redis-benchmark in progress, if any

install_cleanup

# shellcheck disable=SC2086 # CAIRN_ARGS is a list of extra words on purpose
server_argv() {   # server_argv INSTANCE: the server's argv, one word per line
    local inst="$1" port="${PORT[$1]}" dir="$WORK/data-$1"
    case "$inst" in
    cairn)
        printf '%s\n' "$CAIRN_BIN" server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --dir "$dir" --dbfilename dump.rdb ${CAIRN_ARGS:-} ;;
    redis)
        printf '%s\n' redis-server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --daemonize no --dir "$dir" --dbfilename dump.rdb ;;
    cairn-aof)
        printf '%s\n' "$CAIRN_BIN" server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly yes --appendfsync everysec --dir "$dir" ${CAIRN_ARGS:-} ;;
    redis-aof)
        printf '%s\n' redis-server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly yes --appendfsync everysec --daemonize no --dir "$dir" ;;
    cairn-noaof)
        printf '%s\n' "$CAIRN_BIN" server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --dir "$dir" ${CAIRN_ARGS:-} ;;
    redis-noaof)
        printf '%s\n' redis-server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --daemonize no --dir "$dir" ;;
    *) die "unknown instance $inst" ;;
    esac
}

# ---------------------------------------------------------- python helpers --
# gen.py N: RESP `SET key:%012d <32 bytes>` for keys 0..N-1 on stdout.
cat >"$WORK/gen.py" <<'PY'
import sys
n, out = int(sys.argv[1]), sys.stdout.buffer
val, buf = b"v" * 32, []
for i in range(n):
    buf.append(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$32\r\n%s\r\n" % (i, val))
    if len(buf) == 65536:
        out.write(b"".join(buf))
        buf.clear()
out.write(b"".join(buf))
PY

# pong.py PORT PID T0 LIMIT: sends PING every 5 ms (reconnecting while refused) until a
# +PONG arrives; prints the seconds since T0 (epoch seconds, taken at launch). Exit 1 if
# PID exited, 2 after LIMIT seconds.
cat >"$WORK/pong.py" <<'PY'
import socket, sys, time
port, pid, t0, limit = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])

def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

s, buf = None, b""
while True:
    if time.time() - t0 > limit:
        sys.exit(2)
    if not alive():
        sys.exit(1)
    try:
        if s is None:
            s, buf = socket.create_connection(("127.0.0.1", port), timeout=2), b""
        s.sendall(b"PING\r\n")
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise OSError("closed")
            buf += chunk
        line, buf = buf.split(b"\r\n", 1)
        if line == b"+PONG":
            print(f"{time.time() - t0:.4f}")
            sys.exit(0)
    except OSError:
        if s is not None:
            s.close()
        s = None
    time.sleep(0.005)
PY

# bgsave.py PORT PID INTERVAL_MS LIMIT: BGSAVE, sampling RSS and Pss (process + children)
# every INTERVAL_MS until INFO persistence says it is done; prints key=value results.
cat >"$WORK/bgsave.py" <<'PY'
import glob, socket, subprocess, sys, time
port, pid, interval, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) / 1000, float(sys.argv[4])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
rf = s.makefile("rb")

def cmd(*args):
    s.sendall(b"".join([b"*%d\r\n" % len(args)] + [b"$%d\r\n%s\r\n" % (len(a), a) for a in args]))
    line = rf.readline()
    if line[:1] == b"$":
        data = rf.read(int(line[1:]) + 2)
        return data[:-2].decode()
    return line.rstrip(b"\r\n").decode()

def persistence():
    return dict(l.split(":", 1) for l in cmd(b"INFO", b"persistence").split("\r\n") if ":" in l)

def children():
    files = glob.glob(f"/proc/{pid}/task/*/children")
    if files:
        kids = []
        for f in files:
            try:
                kids += open(f).read().split()
            except OSError:
                pass
        return kids
    r = subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True)
    return r.stdout.split()

def field(path, name):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(name):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0

def sample():
    procs = [pid] + children()
    rss = sum(field(f"/proc/{p}/status", "VmRSS:") for p in procs)
    pss = sum(field(f"/proc/{p}/smaps_rollup", "Pss:") for p in procs)
    return rss, pss, len(procs) - 1

before = persistence()
if before.get("rdb_bgsave_in_progress") != "0":
    sys.exit("a background save is already running")
saves0 = int(before["rdb_saves"])
rss0, pss0, _ = sample()
reply = cmd(b"BGSAVE")
if not reply.startswith("+"):
    sys.exit(f"BGSAVE replied {reply!r}")
t0 = time.time()
peak_rss, peak_pss, max_kids, samples, nxt = rss0, pss0, 0, 0, t0
while True:
    rss, pss, kids = sample()
    samples += 1
    peak_rss, peak_pss, max_kids = max(peak_rss, rss), max(peak_pss, pss), max(max_kids, kids)
    info = persistence()
    if info["rdb_bgsave_in_progress"] == "0" and int(info["rdb_saves"]) > saves0:
        break
    if time.time() - t0 > limit:
        sys.exit(f"BGSAVE still running after {limit} s")
    nxt += interval
    time.sleep(max(0.0, nxt - time.time()))
secs = time.time() - t0
if info.get("rdb_last_bgsave_status") != "ok":
    sys.exit(f"rdb_last_bgsave_status:{info.get('rdb_last_bgsave_status')}")
print(f"rss_before_kb={rss0} rss_peak_kb={peak_rss} pss_before_kb={pss0} pss_peak_kb={peak_pss}"
      f" seconds={secs:.3f} samples={samples} children={max_kids}")
PY

# ------------------------------------------------------------------ helpers --
# wait_timed INSTANCE: start_instance's readiness check for timed starts: runs pong.py
# with the launch time (taken on entry, right after start_instance launched the server)
# and leaves the seconds to the first PONG in READY_SECONDS; 1 if the server exited.
READY_SECONDS=""
# shellcheck disable=SC2317 # called by start_instance
wait_timed() {
    local inst="$1" t0="${EPOCHREALTIME/,/.}" rc=0
    python3 "$WORK/pong.py" "${PORT[$inst]}" "${PID[$inst]}" "$t0" "$BENCH_START_TIMEOUT" \
        >"$WORK/pong.out" 2>"$WORK/pong.err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=""
    case $rc in
    0) READY_SECONDS="$(<"$WORK/pong.out")" ;;
    1) return 1 ;;
    2) die "$inst did not answer PING within ${BENCH_START_TIMEOUT} s (BENCH_START_TIMEOUT)" ;;
    *) cat "$WORK/pong.err" >&2; die "pong.py failed for $inst (exit $rc)" ;;
    esac
}

cli() {   # cli INSTANCE ARGS...: one redis-cli command under a time limit
    local inst="$1"
    shift
    timeout "$BENCH_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$inst]}" "$@"
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# cpu_ticks PID: user + system CPU of the process and its reaped children, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat"; }
CLK_TCK="$(getconf CLK_TCK)"
now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$1" "$2"; }
info_field() {   # info_field INSTANCE SECTION NAME
    cli "$1" info "$2" | tr -d '\r' | awk -F: -v k="$3" '$1 == k { print $2; exit }'
}
stop_instance() { stop_pid "${PID[$1]:-}"; PID[$1]=""; }
strip_ansi() { sed 's/\x1b\[[0-9;]*m//g' "$@"; }

# load_keys INSTANCE FILE N: sends FILE with redis-cli --pipe; checks the replies and DBSIZE.
load_keys() {
    local inst="$1" file="$2" n="$3" rc=0 summary
    timeout "$BENCH_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$inst]}" --pipe \
        <"$file" >"$WORK/load.out" 2>&1 &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=""
    summary="$(tr -d '\r' <"$WORK/load.out" | grep -E '^errors: ' || true)"
    if [[ $rc -ne 0 || "$summary" != "errors: 0, replies: $n" ]]; then
        cat "$WORK/load.out" >&2
        die "loading $n keys into $inst failed (exit $rc)"
    fi
    [[ "$(cli "$inst" dbsize)" == "$n" ]] || die "$inst: DBSIZE is not $n after the load"
}

loaded_seconds() {   # loaded_seconds INSTANCE N: the server's own load time, from its log
    local inst="$1" n="$2" line
    case "$inst" in
    cairn)
        line="$(strip_ansi "$WORK/cairn.log" | grep -oE "loaded [0-9]+ keys from .* in [0-9.]+ s" | tail -n 1)"
        [[ "$line" =~ ^loaded\ ([0-9]+)\ keys\ .*\ in\ ([0-9.]+)\ s$ ]] \
            || die "no 'loaded ... keys ... in X s' line in cairn's log"
        [[ "${BASH_REMATCH[1]}" == "$n" ]] || die "cairn's log says it loaded ${BASH_REMATCH[1]} keys, not $n"
        echo "${BASH_REMATCH[2]}" ;;
    redis)
        grep -q "keys loaded: $n," "$WORK/redis.log" || die "redis's log does not say 'keys loaded: $n'"
        line="$(grep -oE 'DB loaded from disk: [0-9.]+ seconds' "$WORK/redis.log" | tail -n 1)"
        [[ "$line" =~ ([0-9.]+)\ seconds ]] || die "no 'DB loaded from disk' line in redis's log"
        echo "${BASH_REMATCH[1]}" ;;
    esac
}

CAIRN_VERSION="$(timeout 5 "$CAIRN_BIN" --version 2>/dev/null </dev/null | head -n 1)" || CAIRN_VERSION=""
[[ -n "$CAIRN_VERSION" ]] || CAIRN_VERSION="unknown"

echo "== Cairn vs Redis: persistence (restart from a snapshot, RSS during BGSAVE, AOF write throughput)"
echo "date:            $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpus:            $(nproc 2>/dev/null || echo '?'); loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cairn binary:    $CAIRN_BIN"
echo "cairn version:   $CAIRN_VERSION"
echo "redis-server:    $(redis-server --version)"
echo "work dir:        $WORK ($(df -h --output=fstype,avail "$WORK" | tail -n 1 | xargs))"
echo "parts:           ${PARTS[*]}; sizes: ${SIZES[*]}; restarts: $BENCH_RESTARTS;" \
    "AOF rounds: $BENCH_ROUNDS, requests $BENCH_N at P1, $BENCH_N_PIPELINED at P>1, pipelines ${PIPES[*]}"
echo

# ------------------------------------------------- part 1 and 2: snapshot --
bgsave_one() {   # bgsave_one INSTANCE N: BGSAVE with RSS sampling; appends to $RESULTS
    local inst="$1" n="$2" rc=0 out
    python3 "$WORK/bgsave.py" "${PORT[$inst]}" "${PID[$inst]}" "$BENCH_SAMPLE_MS" "$BENCH_TIMEOUT" \
        >"$WORK/bgsave.out" 2>"$WORK/bgsave.err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=""
    out="$(<"$WORK/bgsave.out")"
    if [[ $rc -ne 0 || "$out" != rss_before_kb=* ]]; then
        cat "$WORK/bgsave.out" "$WORK/bgsave.err" >&2
        die "BGSAVE sampling on $inst failed (exit $rc)"
    fi
    [[ "$(cli "$inst" dbsize)" == "$n" ]] || die "$inst: DBSIZE is not $n after BGSAVE"
    printf 'bgsave\t%s\t%s\t%s\n' "$inst" "$n" "$out" >>"$RESULTS"
    echo "bgsave  $inst: $out"
}

SNAPSHOT_PARTS=0
[[ -n "${WANT[restart]:-}" || -n "${WANT[bgsave]:-}" ]] && SNAPSHOT_PARTS=1
if ((SNAPSHOT_PARTS)); then
    for idx in "${!SIZES[@]}"; do
        n="${SIZES[$idx]}"
        # Part 2 runs on the first size only, and without part 1 only that size is needed.
        if [[ -z "${WANT[restart]:-}" ]] && ((idx > 0)); then break; fi
        echo "==> $n keys: generating the load"
        t0="$(now)"
        python3 "$WORK/gen.py" "$n" >"$WORK/load.resp"
        echo "    $(du -h "$WORK/load.resp" | cut -f1) of RESP in $(elapsed "$t0" "$(now)") s"
        for inst in cairn redis; do
            rm -rf "$WORK/data-$inst"
            mkdir -p "$WORK/data-$inst"
            start_instance "$inst" wait_timed
            t0="$(now)"
            load_keys "$inst" "$WORK/load.resp" "$n"
            fill_s="$(elapsed "$t0" "$(now)")"
            rss="$(rss_kb "${PID[$inst]}")"
            t0="$(now)"
            [[ "$(cli "$inst" save)" == OK ]] || die "SAVE on $inst failed"
            save_s="$(elapsed "$t0" "$(now)")"
            size="$(stat -c %s "$WORK/data-$inst/dump.rdb")"
            stop_instance "$inst"
            printf 'fill\t%s\t%s\t%s\t%s\t%s\t%s\n' "$inst" "$n" "$fill_s" "$save_s" "$size" "$rss" >>"$RESULTS"
            printf 'fill    %-5s %s keys in %s s, RSS %d MiB; SAVE %s s, snapshot %d MB\n' \
                "$inst" "$n" "$fill_s" "$((rss / 1024))" "$save_s" "$((size / 1000000))"
        done
        rm -f "$WORK/load.resp"

        if [[ -n "${WANT[restart]:-}" ]]; then
            for ((r = 1; r <= BENCH_RESTARTS; r++)); do
                order=(cairn redis)
                ((r % 2 == 1)) || order=(redis cairn)
                for inst in "${order[@]}"; do
                    start_instance "$inst" wait_timed
                    wall="$READY_SECONDS"
                    logged="$(loaded_seconds "$inst" "$n")"
                    [[ "$(cli "$inst" dbsize)" == "$n" ]] || die "$inst: DBSIZE is not $n after the restart"
                    rss="$(rss_kb "${PID[$inst]}")"
                    stop_instance "$inst"
                    printf 'restart\t%s\t%s\t%s\t%s\t%s\t%s\n' "$inst" "$n" "$r" "$wall" "$logged" "$rss" >>"$RESULTS"
                    printf '[restart %d/%d] %-5s %s keys: PONG after %s s (log: %s s), %s keys/s, RSS %d MiB\n' \
                        "$r" "$BENCH_RESTARTS" "$inst" "$n" "$wall" "$logged" \
                        "$(python3 -c 'import sys; print(round(int(sys.argv[1]) / float(sys.argv[2])))' "$n" "$wall")" \
                        "$((rss / 1024))"
                done
            done
        fi

        if [[ -n "${WANT[bgsave]:-}" ]] && ((idx == 0)); then
            for inst in cairn redis; do
                start_instance "$inst" wait_timed
                sleep 1   # let the start-up settle before "before"
                bgsave_one "$inst" "$n"
                stop_instance "$inst"
            done
        fi
        rm -rf "$WORK/data-cairn" "$WORK/data-redis"
        echo
    done
fi

# ----------------------------------------------------- part 3: AOF writes --
requests_for() { (($1 == 1)) && echo "$BENCH_N" || echo "$BENCH_N_PIPELINED"; }
bench_cmd() {   # bench_cmd PORT PIPE: the redis-benchmark argv, one word per line
    local n
    n="$(requests_for "$2")"
    printf '%s\n' redis-benchmark -h 127.0.0.1 -p "$1" -t set -n "$n" -r 1000000 -c 50 -P "$2" --csv -q
}

aof_run() {   # aof_run INSTANCE PIPE ROUND: one redis-benchmark run; appends to $RESULTS
    local inst="$1" pipe="$2" round="$3" pid="${PID[$1]}" rc=0 cpu0 cpu_us rw0 rw1 rps n
    local -a cmd
    is_running "$pid" || die "$inst (pid $pid) is no longer running"
    [[ "$(cli "$inst" flushall)" == OK ]] || die "FLUSHALL on $inst failed"
    mapfile -t cmd < <(bench_cmd "${PORT[$inst]}" "$pipe")
    n="$(requests_for "$pipe")"
    rw0="$(info_field "$inst" persistence aof_rewrites)"
    cpu0="$(cpu_ticks "$pid")"
    run_bounded "$WORK/bench.out" "$WORK/bench.err" "${cmd[@]}" || rc=$?
    [[ $rc -eq 0 ]] || die "redis-benchmark against $inst failed (exit $rc)"
    cpu_us=$(( ($(cpu_ticks "$pid") - cpu0) * 1000000 / CLK_TCK ))
    rw1="$(info_field "$inst" persistence aof_rewrites)"
    [[ "$(info_field "$inst" persistence aof_last_write_status)" == ok ]] \
        || die "$inst: aof_last_write_status is not ok"
    # CSV: "SET","123.45",... (v7, after a header line) or "SET","123.45" (older).
    rps="$(tr -d '\r' <"$WORK/bench.out" | awk -F'"' '$2 == "SET" { print $4; exit }')"
    if ! [[ "$rps" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
        cat "$WORK/bench.out" >&2
        die "no SET rps in the redis-benchmark output for $inst P$pipe"
    fi
    printf 'aof\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$inst" "$pipe" "$round" "$rps" "$cpu_us" "$n" \
        "$((rw1 - rw0))" >>"$RESULTS"
    printf '[round %d/%d] SET P%-2s %-11s %10.0f ops/s  server CPU %5.2f us/req  AOF rewrites %d\n' \
        "$round" "$BENCH_ROUNDS" "$pipe" "$inst" "$rps" \
        "$(awk -v c="$cpu_us" -v n="$n" 'BEGIN { printf "%.2f", c / n }')" "$((rw1 - rw0))"
}

if [[ -n "${WANT[aof]:-}" ]]; then
    AOF_INSTANCES=(cairn-aof redis-aof)
    for s in "${AOF_REF[@]}"; do AOF_INSTANCES+=("$s-noaof"); done
    echo "==> AOF write throughput: ${AOF_INSTANCES[*]}"
    for inst in "${AOF_INSTANCES[@]}"; do
        rm -rf "$WORK/data-$inst"
        mkdir -p "$WORK/data-$inst"
        start_instance "$inst" wait_timed
        printf '  %-11s %s(pid %s)\n' "$inst" "${CMDLINE[$inst]}" "${PID[$inst]}"
    done
    [[ "$(info_field cairn-aof persistence aof_enabled)" == 1 ]] || die "cairn-aof: aof_enabled is not 1"
    [[ "$(info_field redis-aof persistence aof_enabled)" == 1 ]] || die "redis-aof: aof_enabled is not 1"
    for pipe in "${PIPES[@]}"; do echo "  $(bench_cmd PORT "$pipe" | paste -sd ' ')"; done
    for ((round = 1; round <= BENCH_ROUNDS; round++)); do
        order=("${AOF_INSTANCES[@]}")
        if ((round % 2 == 0)); then
            order=()
            for ((i = ${#AOF_INSTANCES[@]} - 1; i >= 0; i--)); do order+=("${AOF_INSTANCES[$i]}"); done
        fi
        for pipe in "${PIPES[@]}"; do
            for inst in "${order[@]}"; do aof_run "$inst" "$pipe" "$round"; done
        done
    done
    for inst in "${AOF_INSTANCES[@]}"; do
        echo "  $inst: $(du -sh "$WORK/data-$inst" | cut -f1) on disk at the end"
        stop_instance "$inst"
    done
    echo
fi

# ---------------------------------------------------------------- summary --
echo "== Summary"
python3 - "$RESULTS" "$BENCH_RESTARTS" "$BENCH_ROUNDS" <<'EOF'
import statistics, sys
from collections import defaultdict

restarts, fills, bgsaves, aof = defaultdict(list), {}, {}, defaultdict(list)
with open(sys.argv[1]) as f:
    for line in f:
        rec = line.rstrip("\n").split("\t")
        if rec[0] == "fill":
            _, srv, n, fill_s, save_s, size, rss = rec
            fills[(srv, int(n))] = (float(fill_s), float(save_s), int(size), int(rss))
        elif rec[0] == "restart":
            _, srv, n, _r, wall, logged, rss = rec
            restarts[(srv, int(n))].append((float(wall), float(logged), int(rss)))
        elif rec[0] == "bgsave":
            _, srv, n, kv = rec
            bgsaves[srv] = (int(n), dict(x.split("=") for x in kv.split()))
        elif rec[0] == "aof":
            _, inst, pipe, _r, rps, cpu_us, n, rw = rec
            aof[(inst, int(pipe))].append((float(rps), int(cpu_us) / int(n), int(rw)))

med = statistics.median
ratio = lambda a, b: f"{a / b:.2f}" if b > 0 else "n/a"
mib = lambda kb: kb / 1024

if restarts:
    print(f"Restart from a snapshot: launch to first PONG, median of {sys.argv[2]} restart(s);")
    print("keys/s = keys / wall time; 'log' = the server's own load time; snapshot in the page cache")
    print(f"{'keys':>9} {'server':<6} {'snapshot MB':>11} {'SAVE s':>7} {'wall s':>7} {'log s':>7}"
          f" {'keys/s':>10} {'RSS MiB':>8}")
    for n in sorted({n for _, n in restarts}):
        for srv in ("cairn", "redis"):
            if (srv, n) not in restarts:
                continue
            runs = restarts[(srv, n)]
            wall, logged, rss = med(r[0] for r in runs), med(r[1] for r in runs), med(r[2] for r in runs)
            _, save_s, size, _ = fills[(srv, n)]
            print(f"{n:>9} {srv:<6} {size / 1e6:>11.1f} {save_s:>7.3f} {wall:>7.3f} {logged:>7.3f}"
                  f" {n / wall:>10.0f} {mib(rss):>8.1f}")
        c, r = restarts.get(("cairn", n)), restarts.get(("redis", n))
        if c and r:
            cw, rw = med(x[0] for x in c), med(x[0] for x in r)
            print(f"{n:>9} {'cairn/redis keys/s':<42} {ratio(rw, cw):>10}"
                  f"   (SAVE time cairn/redis {ratio(fills[('cairn', n)][1], fills[('redis', n)][1])},"
                  f" snapshot size {ratio(fills[('cairn', n)][2], fills[('redis', n)][2])})")
    print()

if bgsaves:
    print("RSS during BGSAVE (no other load; redis-server: parent + fork child; Pss counts")
    print("pages the two share once)")
    print(f"{'server':<6} {'keys':>9} {'RSS before':>11} {'RSS peak':>9} {'peak/before':>12}"
          f" {'Pss before':>11} {'Pss peak':>9} {'peak/before':>12} {'BGSAVE s':>9} {'samples':>8}")
    for srv in ("cairn", "redis"):
        if srv not in bgsaves:
            continue
        n, d = bgsaves[srv]
        rb, rp, pb, pp = (int(d[k]) for k in ("rss_before_kb", "rss_peak_kb", "pss_before_kb", "pss_peak_kb"))
        print(f"{srv:<6} {n:>9} {mib(rb):>7.1f} MiB {mib(rp):>5.1f} MiB {ratio(rp, rb):>12}"
              f" {mib(pb):>7.1f} MiB {mib(pp):>5.1f} MiB {ratio(pp, pb):>12} {float(d['seconds']):>9.3f}"
              f" {d['samples']:>8}")
    print()

if aof:
    insts = [i for i in ("cairn-aof", "redis-aof", "cairn-noaof", "redis-noaof") if any(k[0] == i for k in aof)]
    pipes = sorted({p for _, p in aof})
    print(f"AOF write throughput: redis-benchmark SET, 50 clients, keyspace 1000000, median of {sys.argv[3]} round(s)")
    print("ops/s (higher is better)")
    hdr = f"{'test':<8}" + "".join(f" {i:>12}" for i in insts) + f" {'cairn/redis':>12}"
    extra = [(s, f"{s} aof/noaof") for s in ("cairn", "redis") if f"{s}-noaof" in insts]
    hdr += "".join(f" {name:>18}" for _, name in extra)
    print(hdr)
    for p in pipes:
        m = {i: med(r[0] for r in aof[(i, p)]) for i in insts}
        row = f"{'SET P' + str(p):<8}" + "".join(f" {m[i]:>12.0f}" for i in insts)
        row += f" {ratio(m['cairn-aof'], m['redis-aof']):>12}"
        row += "".join(f" {ratio(m[s + '-aof'], m[s + '-noaof']):>18}" for s, _ in extra)
        print(row)
    print("server CPU per request, microseconds (user + system, reaped children included; lower is better)")
    print(hdr)
    for p in pipes:
        m = {i: med(r[1] for r in aof[(i, p)]) for i in insts}
        row = f"{'SET P' + str(p):<8}" + "".join(f" {m[i]:>12.2f}" for i in insts)
        row += f" {ratio(m['cairn-aof'], m['redis-aof']):>12}"
        row += "".join(f" {ratio(m[s + '-aof'], m[s + '-noaof']):>18}" for s, _ in extra)
        print(row)
    rw = {i: sum(r[2] for p in pipes for r in aof[(i, p)]) for i in insts if i.endswith("-aof")}
    print("AOF rewrites during the runs: " + ", ".join(f"{i} {v}" for i, v in rw.items()))
EOF
echo
echo "versions: $CAIRN_VERSION; $(redis-server --version)"
[[ -z "${CAIRN_ARGS:-}" ]] || echo "CAIRN_ARGS: $CAIRN_ARGS"
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wall time: $((SECONDS - START_SECONDS)) s"
exit 0
