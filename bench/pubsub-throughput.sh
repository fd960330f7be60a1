#!/usr/bin/env bash
# bench/pubsub-throughput.sh — PUBLISH throughput to 1, 10 and 100 subscribers, Cairn vs redis-server.
#
# What it measures
#   PUBLISH throughput (ops/s, as redis-benchmark reports it) on one channel with N
#   subscribers (N = 1, 10 and 100), against a Cairn server and a stock redis-server, both
#   with persistence off. Per measured run:
#
#     1. A fresh subscriber set: one python3 process (standard library only) opens N
#        connections, sends `SUBSCRIBE ch` on each and waits for the N confirmations. It
#        then reads and discards everything it receives, so that the server is never held
#        back by full socket buffers, checking that the byte stream is exactly the
#        expected `message` frames and counting them.
#     2. `PUBSUB NUMSUB ch` must answer N.
#     3. The publisher load (PAYLOAD is BENCH_DATA bytes of "x"):
#
#          redis-benchmark -h 127.0.0.1 -p PORT -n N -c 50 -P PIPE --csv -q PUBLISH ch PAYLOAD
#                                                              (PIPE = 1 and 16)
#
#     4. The subscribers keep reading until every expected message has arrived, nothing
#        has arrived for 3 s, or SETTLE_TIMEOUT seconds have passed. Expected is
#        subscribers × PUBLISH calls (the server's INFO commandstats delta, or the number
#        redis-benchmark issues if the server has no cmdstat_publish). Any shortfall, any
#        surplus, a subscriber disconnected by the server, or bytes that are not the
#        expected frames print a WARNING, and the script exits with status 1 after the
#        summary: a server that drops messages must not look fast.
#
#   Rounds are A/B/A/B: each round runs, for each subscriber count and pipeline depth,
#   cairn then redis (odd rounds) or redis then cairn (even rounds). The summary gives per
#   (subscribers, pipeline) the median PUBLISH ops/s of each server and the ratio
#   cairn/redis (> 1.00 means Cairn is faster); the median delivered messages/s measured
#   on the subscriber side (messages received ÷ time from the first to the last one); and
#   the server CPU time per PUBLISH (user + system; steadier than ops/s on a shared machine).
#   On a 2-core machine the server, redis-benchmark and the python subscribers share the
#   cores, so at 100 subscribers the subscriber process is part of what is measured, for
#   both servers alike.
#
# How to run (from anywhere):
#   bash bench/pubsub-throughput.sh
#   ROUNDS=1 BENCH_N=20000 bash bench/pubsub-throughput.sh      # quick smoke run
#
# Settings (environment variables):
#   ROUNDS          number of A/B rounds                            (default 3)
#   BENCH_N         PUBLISH requests per redis-benchmark run (-n)   (default 200000)
#   BENCH_DATA      payload size in bytes                           (default 32)
#   SUBSCRIBERS     subscriber counts, space-separated              (default "1 10 100")
#   PIPES           pipeline depths (-P), space-separated           (default "1 16")
#   SETTLE_TIMEOUT  seconds the subscribers may take, after redis-benchmark ends, to
#                   receive the rest of the messages                (default 30)
#   CAIRN_BIN       use this cairn binary; skips `cargo build --release -p cairn`
#                   (default: target/release/cairn, built by this script)
#   CAIRN_ARGS      extra settings for the Cairn server, e.g. "--threads 1"
#   BENCH_TIMEOUT   time limit in seconds for one redis-benchmark run (default 300)
#
# Needs: bash, python3, redis-server, redis-benchmark and redis-cli (installed with apt-get
# if missing, as root). Both servers listen on ephemeral ports on 127.0.0.1 with
# persistence off. Every process the script starts (servers, redis-benchmark, the
# subscriber process) is stopped when the script exits, including on Ctrl-C and SIGTERM;
# the subscriber process also exits by itself if the script is killed with SIGKILL.

set -euo pipefail

# ---------------------------------------------------------------- settings --
ROUNDS="${ROUNDS:-3}"
BENCH_N="${BENCH_N:-200000}"
BENCH_DATA="${BENCH_DATA:-32}"
SETTLE_TIMEOUT="${SETTLE_TIMEOUT:-30}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-300}"
CAIRN_BIN="${CAIRN_BIN:-}"
read -r -a SUBS <<<"${SUBSCRIBERS:-1 10 100}"
read -r -a PIPES <<<"${PIPES:-1 16}"
CHANNEL="ch"
IDLE_LIMIT=3      # seconds without a received byte that end the wait for the rest

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_positive ROUNDS BENCH_N BENCH_DATA SETTLE_TIMEOUT BENCH_TIMEOUT
# The payload is one argv word of redis-benchmark (Linux caps one word at 128 KiB).
((BENCH_DATA <= 65536)) || die "BENCH_DATA must be at most 65536 (got $BENCH_DATA)"
((${#SUBS[@]} > 0)) || die "SUBSCRIBERS is empty"
((${#PIPES[@]} > 0)) || die "PIPES is empty"
for n in "${SUBS[@]}"; do
    if ! [[ "$n" =~ ^[1-9][0-9]*$ ]] || ((n > 10000)); then
        die "SUBSCRIBERS must be integers from 1 to 10000 (got '$n')"
    fi
done
for p in "${PIPES[@]}"; do
    if ! [[ "$p" =~ ^[1-9][0-9]*$ ]] || ((p > 1000)); then
        die "PIPES must be integers from 1 to 1000 (got '$p')"
    fi
done
MAX_SUBS="$(printf '%s\n' "${SUBS[@]}" | sort -n | tail -n 1)"
if [[ "$(ulimit -n)" != unlimited ]] && (($(ulimit -n) < MAX_SUBS + 64)); then
    die "open-file limit $(ulimit -n) is too low for $MAX_SUBS subscribers (ulimit -n)"
fi

resolve_cairn_bin

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# ------------------------------------------------------------ dependencies --
command -v python3 >/dev/null || die "python3 is required (subscribers, free ports and medians)"
ensure_redis_tools

# ------------------------------------------------------------------- build --
build_cairn

# ------------------------------------------------- servers and clean-up ----
START_SECONDS=$SECONDS
WORK="$(mktemp -d -t cairn-pubsub.XXXXXX)"   # server logs, cwd, raw results
RESULTS="$WORK/results.tsv"  # server subs pipe ops/s delivered/s delivered expected cpu_us published
: >"$RESULTS"
INSTANCES=(cairn redis)
declare -A PORT=() PID=() CMDLINE=()
BENCH_PID=""   # redis-benchmark run in progress, if any
SUB_PID=""     # subscriber process of the run in progress, if any
CHECK_FAILED=0

CLEANUP_PID_VARS="SUB_PID"
install_cleanup

server_argv() {   # server_argv INSTANCE: the server's argv, one word per line
    local port="${PORT[$1]}"
    case "$1" in
    cairn)
        printf '%s\n' "$CAIRN_BIN" server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --loglevel warning
        # shellcheck disable=SC2086 # CAIRN_ARGS is a list of extra words on purpose
        [[ -z "${CAIRN_ARGS:-}" ]] || printf '%s\n' ${CAIRN_ARGS}
        ;;
    redis)
        printf '%s\n' redis-server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --daemonize no --loglevel warning
        ;;
    esac
}

for inst in "${INSTANCES[@]}"; do start_instance "$inst"; done

# ------------------------------------------------------- subscriber process --
# One process holds all N subscriber connections. Protocol with this script:
#   argv: PORT N CHANNEL PAYLOAD_LEN READY_FILE EXPECTED_FILE SETTLE_S IDLE_S LIFETIME_S
#   - writes READY_FILE once all N subscriptions are confirmed;
#   - on SIGUSR1 reads EXPECTED_FILE (PUBLISH calls made) and keeps reading until
#     N × that many messages have arrived, nothing arrived for IDLE_S, or SETTLE_S passed;
#   - prints one line of key=value results on stdout and exits 0 (2 on a setup error).
cat >"$WORK/subscribers.py" <<'EOF'
import ctypes, os, selectors, signal, socket, sys, time

port, n = int(sys.argv[1]), int(sys.argv[2])
channel, payload_len = sys.argv[3].encode(), int(sys.argv[4])
ready_path, expected_path = sys.argv[5], sys.argv[6]
settle_s, idle_s, lifetime_s = float(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9])
parent = os.getppid()
try:  # exit with the script even if it is killed with SIGKILL (PR_SET_PDEATHSIG)
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
except Exception:
    pass
if os.getppid() != parent:
    sys.exit(2)

def resp(*words):
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)

payload = b"x" * payload_len
FRAME = resp(b"message", channel, payload)   # every message frame is these exact bytes
CONFIRM = b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:1\r\n" % (len(channel), channel)
F, C = len(FRAME), len(CONFIRM)
RECV = 256 * 1024
REP = FRAME * (RECV // F + 2)   # REP[off:] starts with any run of frames cut at offset off

settle = False
def on_usr1(signum, frame):
    global settle
    settle = True
signal.signal(signal.SIGUSR1, on_usr1)

start = time.monotonic()
socks = []
try:
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(resp(b"SUBSCRIBE", channel))
        s.setblocking(False)
        socks.append(s)
except OSError as e:
    print(f"subscribers: connecting subscriber {len(socks) + 1} of {n}: {e}", file=sys.stderr)
    sys.exit(2)

sel = selectors.DefaultSelector()
for i, s in enumerate(socks):
    sel.register(s, selectors.EVENT_READ, i)
head = [b""] * n          # bytes of the SUBSCRIBE confirmation read so far; None once confirmed
got = [0] * n             # message bytes received (all verified against FRAME)
closed = [False] * n      # closed by the server (or after bad bytes)
corrupt = 0
unconfirmed = n
total = 0
first_t = last_t = None
last_progress = time.monotonic()

def drop(i):
    sel.unregister(socks[i])
    socks[i].close()
    closed[i] = True

def poll(timeout):
    global unconfirmed, total, first_t, last_t, last_progress, corrupt
    for key, _ in sel.select(timeout):
        i = key.data
        try:
            data = socks[i].recv(RECV)
        except BlockingIOError:
            continue
        except OSError as e:
            print(f"subscribers: subscriber {i}: {e}", file=sys.stderr)
            data = b""
        if not data:
            drop(i)
            continue
        now = time.monotonic()
        last_progress = now
        if head[i] is not None:
            h = head[i] + data
            if len(h) < C:
                head[i] = h
                continue
            if h[:C] != CONFIRM:
                print(f"subscribers: subscriber {i}: expected {CONFIRM!r}, got {h[:200]!r}", file=sys.stderr)
                sys.exit(2)
            head[i] = None
            unconfirmed -= 1
            data = h[C:]
            if not data:
                continue
        if not REP.startswith(data, got[i] % F):
            off = got[i] % F
            print(f"subscribers: subscriber {i}: unexpected bytes after {got[i]} message bytes: "
                  f"{data[:120]!r} (expected {REP[off:off + 120]!r})", file=sys.stderr)
            corrupt += 1
            drop(i)
            continue
        if first_t is None:
            first_t = now
        last_t = now
        got[i] += len(data)
        total += len(data)

deadline = start + 20
while unconfirmed > 0:
    if time.monotonic() > deadline or all(closed):
        print(f"subscribers: {unconfirmed} of {n} SUBSCRIBE confirmations missing after 20 s",
              file=sys.stderr)
        sys.exit(2)
    poll(0.2)
with open(ready_path + ".tmp", "w") as f:
    f.write("ready\n")
os.rename(ready_path + ".tmp", ready_path)

expected = None
settle_start = None
reason = "lifetime"
while time.monotonic() - start < lifetime_s:
    if settle and expected is None:
        with open(expected_path) as f:
            expected = int(f.read())
        settle_start = time.monotonic()
    if expected is not None:
        now = time.monotonic()
        if total >= n * expected * F:
            reason = "all"
        elif all(closed):
            reason = "all-closed"
        elif now - max(last_progress, settle_start) >= idle_s:
            reason = "idle"
        elif now - settle_start >= settle_s:
            reason = "settle-timeout"
        else:
            reason = None
        if reason:
            break
    poll(0.1)

msgs = [g // F for g in got]
span = (last_t - first_t) if first_t is not None else 0.0
print(f"delivered={sum(msgs)} expected={n * (expected or 0)} min={min(msgs)} max={max(msgs)} "
      f"partial={sum(1 for g in got if g % F)} closed={sum(closed) - corrupt} corrupt={corrupt} "
      f"span={span:.3f} settle={(time.monotonic() - settle_start) if settle_start else 0:.2f} reason={reason}")
EOF

# ------------------------------------------------------------------ header --
PAYLOAD="$(head -c "$BENCH_DATA" /dev/zero | tr '\0' x)"
bench_cmd() {   # bench_cmd PORT PIPE: the redis-benchmark argv, one word per line
    printf '%s\n' redis-benchmark -h 127.0.0.1 -p "$1" -n "$BENCH_N" -c 50 -P "$2" --csv -q \
        PUBLISH "$CHANNEL" "$PAYLOAD"
}
cli() { timeout 10 redis-cli -h 127.0.0.1 -p "${PORT[$1]}" "${@:2}"; }
numsub() { cli "$1" pubsub numsub "$CHANNEL" | tr -d '\r' | tail -n 1; }
publish_calls() {   # publish_calls INSTANCE: cmdstat_publish calls, or nothing if not reported
    cli "$1" info commandstats | tr -d '\r' \
        | awk -F'[:=,]' '$1 == "cmdstat_publish" { print $3; exit }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

CAIRN_VERSION="$(timeout 5 "$CAIRN_BIN" --version 2>/dev/null </dev/null | head -n 1)" || CAIRN_VERSION=""
[[ -n "$CAIRN_VERSION" ]] || CAIRN_VERSION="unknown"

echo "== Cairn vs Redis: PUBLISH throughput to ${SUBS[*]} subscriber(s) on one channel"
echo "date:            $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpus:            $(nproc 2>/dev/null || echo '?'); loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cairn binary:    $CAIRN_BIN"
echo "cairn version:   $CAIRN_VERSION"
echo "redis-server:    $(redis-server --version)"
echo "redis-benchmark: $(redis-benchmark --version 2>/dev/null || echo unknown)"
echo "python3:         $(python3 --version 2>&1)"
echo "rounds:          $ROUNDS, PUBLISH requests per run: $BENCH_N, payload: $BENCH_DATA bytes," \
    "subscribers: ${SUBS[*]}, pipelines: ${PIPES[*]}"
echo "servers:"
for inst in "${INSTANCES[@]}"; do
    printf '  %-6s %s (pid %s)\n' "$inst" "${CMDLINE[$inst]}" "${PID[$inst]}"
done
echo "per run: a fresh python3 process with N connections, each SUBSCRIBE $CHANNEL (reads and"
echo "  counts every message), PUBSUB NUMSUB $CHANNEL = N checked, then the publisher:"
for pipe in "${PIPES[@]}"; do
    echo "  $(bench_cmd PORT "$pipe" | sed "s/^$PAYLOAD\$/<${BENCH_DATA} bytes of x>/" | paste -sd ' ')"
done
echo "  then up to ${SETTLE_TIMEOUT} s (${IDLE_LIMIT} s without progress) for the subscribers to" \
    "receive N x PUBLISH-calls messages"
echo

# --------------------------------------------------------------- measuring --
wait_numsub() {   # wait_numsub INSTANCE COUNT SECONDS: until PUBSUB NUMSUB is COUNT; 1 on timeout
    local deadline=$((SECONDS + $3))
    while ((SECONDS <= deadline)); do
        [[ "$(numsub "$1")" == "$2" ]] && return 0
        sleep 0.05
    done
    return 1
}

run_one() {   # run_one INSTANCE SUBSCRIBERS PIPE ROUND: one measured run; appends to $RESULTS
    local inst="$1" nsub="$2" pipe="$3" round="$4" pid="${PID[$1]}"
    local rc=0 out rps calls0 calls1 published issued cpu_before cpu_us deadline n
    is_running "$pid" || die "$inst (pid $pid) is no longer running"
    wait_numsub "$inst" 0 10 || die "$inst: PUBSUB NUMSUB $CHANNEL is $(numsub "$inst"), not 0, 10 s after the previous run"

    rm -f "$WORK/ready" "$WORK/expected"
    python3 "$WORK/subscribers.py" "${PORT[$inst]}" "$nsub" "$CHANNEL" "$BENCH_DATA" \
        "$WORK/ready" "$WORK/expected" "$SETTLE_TIMEOUT" "$IDLE_LIMIT" \
        "$((BENCH_TIMEOUT + SETTLE_TIMEOUT + 120))" >"$WORK/sub.out" 2>"$WORK/sub.err" &
    SUB_PID=$!
    deadline=$((SECONDS + 30))
    until [[ -e "$WORK/ready" ]]; do
        if ! is_running "$SUB_PID"; then
            cat "$WORK/sub.err" >&2
            die "the $nsub subscribers of $inst could not subscribe"
        fi
        ((SECONDS < deadline)) || die "the $nsub subscribers of $inst were not ready within 30 s"
        sleep 0.05
    done
    n="$(numsub "$inst")"
    [[ "$n" == "$nsub" ]] || die "$inst: PUBSUB NUMSUB $CHANNEL answered '$n' with $nsub subscribers connected"

    local -a cmd
    mapfile -t cmd < <(bench_cmd "${PORT[$inst]}" "$pipe")
    calls0="$(publish_calls "$inst")"
    cpu_before="$(cpu_ticks "$pid")"
    run_bounded "$WORK/bench.out" "$WORK/bench.err" "${cmd[@]}" \
        || die "redis-benchmark against $inst failed (exit $?)"

    # PUBLISH calls made: the server's own count if it reports one, else what
    # redis-benchmark issues (whole pipelines: BENCH_N rounded up to a multiple of PIPE).
    issued=$(( (BENCH_N + pipe - 1) / pipe * pipe ))
    calls1="$(publish_calls "$inst")"
    if [[ "$calls0" =~ ^[0-9]+$ && "$calls1" =~ ^[0-9]+$ ]]; then
        published=$((calls1 - calls0))
        [[ $published -eq $issued ]] \
            || echo "note: $inst counted $published PUBLISH calls; redis-benchmark should have issued $issued" >&2
    else
        published=$issued
    fi
    echo "$published" >"$WORK/expected.tmp"
    mv "$WORK/expected.tmp" "$WORK/expected"
    kill -USR1 "$SUB_PID" 2>/dev/null || true
    rc=0
    wait "$SUB_PID" || rc=$?
    SUB_PID=""
    cpu_us=$(( ($(cpu_ticks "$pid") - cpu_before) * 1000000 / $(getconf CLK_TCK) ))
    if [[ $rc -ne 0 ]]; then
        cat "$WORK/sub.err" >&2
        die "the subscriber process for $inst failed (exit $rc)"
    fi

    out="$(tr -d '\r' <"$WORK/bench.out")"
    rps="$(awk -F'"' '$2 ~ /^PUBLISH/ { print $4; exit }' <<<"$out")"
    if ! [[ "$rps" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
        echo "redis-benchmark output:" >&2; printf '%s\n' "$out" >&2
        die "no PUBLISH rps in the redis-benchmark output for $inst (P$pipe)"
    fi

    # delivered= expected= min= max= partial= closed= corrupt= span= settle= reason=
    local -A R=()
    local kv
    for kv in $(<"$WORK/sub.out"); do R[${kv%%=*}]="${kv#*=}"; done
    [[ "${R[delivered]:-}" =~ ^[0-9]+$ && "${R[expected]:-}" =~ ^[0-9]+$ ]] \
        || die "unreadable subscriber results: $(<"$WORK/sub.out")"
    local rate pct
    rate="$(awk -v d="${R[delivered]}" -v s="${R[span]}" 'BEGIN { printf "%.0f", (s > 0 ? d / s : 0) }')"
    pct="$(awk -v d="${R[delivered]}" -v e="${R[expected]}" 'BEGIN { printf "%.2f", (e > 0 ? 100 * d / e : 0) }')"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$inst" "$nsub" "$pipe" "$rps" "$rate" \
        "${R[delivered]}" "${R[expected]}" "$cpu_us" "$published" >>"$RESULTS"
    printf '[round %d/%d] subs %-3s P%-2s %-5s %10.0f PUBLISH/s | delivered %d/%d (%s%%) %10s msg/s, settle %ss (%s)\n' \
        "$round" "$ROUNDS" "$nsub" "$pipe" "$inst" "$rps" "${R[delivered]}" "${R[expected]}" "$pct" \
        "$rate" "${R[settle]}" "${R[reason]}"

    local problems=""
    ((R[delivered] < R[expected])) && problems+=" $((R[expected] - R[delivered])) messages NOT DELIVERED;"
    ((R[max] > published)) && problems+=" a subscriber received more messages ($((R[max]))) than were published ($published);"
    ((R[closed] > 0)) && problems+=" ${R[closed]} subscriber connection(s) closed by the server;"
    ((R[corrupt] > 0)) && problems+=" ${R[corrupt]} subscriber(s) received bytes that are not the expected frames;"
    ((R[partial] > 0)) && problems+=" ${R[partial]} subscriber(s) ended inside a frame;"
    if [[ -n "$problems" ]]; then
        echo "WARNING: $inst, $nsub subscriber(s), P$pipe:$problems (wait ended: ${R[reason]})" >&2
        [[ -s "$WORK/sub.err" ]] && sed 's/^/  /' "$WORK/sub.err" >&2
        CHECK_FAILED=1
    fi
}

for ((round = 1; round <= ROUNDS; round++)); do
    order=(cairn redis)
    ((round % 2 == 1)) || order=(redis cairn)
    for nsub in "${SUBS[@]}"; do
        for pipe in "${PIPES[@]}"; do
            for inst in "${order[@]}"; do run_one "$inst" "$nsub" "$pipe" "$round"; done
        done
    done
done

# ---------------------------------------------------------------- summary --
echo
echo "== Medians over $ROUNDS round(s), $BENCH_N PUBLISH per run, 50 publishing clients, payload $BENCH_DATA bytes"
python3 - "$RESULTS" <<'EOF'
import statistics, sys

runs = {}
order = []
with open(sys.argv[1]) as f:
    for line in f:
        server, subs, pipe, rps, rate, delivered, expected, cpu_us, published = line.strip().split("\t")
        if (subs, pipe) not in order:
            order.append((subs, pipe))
        runs.setdefault((server, subs, pipe), []).append(
            (float(rps), float(rate), int(delivered), int(expected), int(cpu_us), int(published)))
med = lambda server, k, i: statistics.median(r[i] for r in runs[(server, *k)])
ratio = lambda c, r: f"{c / r:.2f}" if r > 0 else "n/a"

def delivered(k):
    missing = sum(r[3] - r[2] for s in ("cairn", "redis") for r in runs[(s, *k)] if r[2] < r[3])
    if not missing:
        return "all"
    return " ".join(f"{s} {100 * sum(r[2] for r in runs[(s, *k)]) / sum(r[3] for r in runs[(s, *k)]):.1f}%"
                    for s in ("cairn", "redis"))

print("PUBLISH ops/s (redis-benchmark) and messages delivered per second (all subscribers,")
print("measured by the subscribers from the first message to the last)")
print(f"{'subs':>4} {'pipe':<4} {'cairn ops/s':>12} {'redis ops/s':>12} {'cairn/redis':>11}"
      f" {'cairn msg/s':>12} {'redis msg/s':>12} {'cairn/redis':>11}  delivered")
for k in order:
    c, r = med("cairn", k, 0), med("redis", k, 0)
    cd, rd = med("cairn", k, 1), med("redis", k, 1)
    print(f"{k[0]:>4} {'P' + k[1]:<4} {c:>12.0f} {r:>12.0f} {ratio(c, r):>11}"
          f" {cd:>12.0f} {rd:>12.0f} {ratio(cd, rd):>11}  {delivered(k)}")

print()
print("server CPU per PUBLISH (microseconds, user + system, over the run and the delivery of")
print("the rest; median; lower is better)")
print(f"{'subs':>4} {'pipe':<4} {'cairn':>12} {'redis':>12} {'cairn/redis':>11}")
for k in order:
    c = statistics.median(r[4] / r[5] for r in runs[("cairn", *k)])
    r = statistics.median(r[4] / r[5] for r in runs[("redis", *k)])
    print(f"{k[0]:>4} {'P' + k[1]:<4} {c:>12.2f} {r:>12.2f} {ratio(c, r):>11}")
EOF
echo
echo "command: $(bench_cmd PORT PIPE | sed "s/^$PAYLOAD\$/<${BENCH_DATA} bytes of x>/" | paste -sd ' ')" \
    "with ${SUBS[*]} subscriber(s) on '$CHANNEL'"
echo "versions: cairn $CAIRN_VERSION; $(redis-server --version)"
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wall time: $((SECONDS - START_SECONDS)) s"
if [[ $CHECK_FAILED -ne 0 ]]; then
    echo "check failed: some messages were not delivered as expected (see the WARNINGs above)" >&2
    exit 1
fi
exit 0
