#!/usr/bin/env bash
# bench/memory-per-key.sh — RSS growth per key: Cairn, redis-server and memcached.
#
# Loads N keys `key:%012d` with 32-byte values (issue 3's load) into a fresh server and
# reports (RSS after - RSS before) / N, read from /proc/<pid>/status (VmRSS). The servers
# run one after the other, each stopped before the next starts:
#
#   cairn      RESP `SET key value`            through `redis-cli --pipe`
#   redis      RESP `SET key value`            through `redis-cli --pipe`
#   memcached  `set key 0 0 32 noreply`        through a python3 socket sender, -m 1024
#   cairn-ttl  RESP `SET key value EX 86400`   (skipped with TTL=0)
#   redis-ttl  RESP `SET key value EX 86400`   (skipped with TTL=0)
#
# and a closing summary line with cairn/redis and cairn/memcached for the plain load.
# Every load is checked: DBSIZE (or memcached's curr_items) must equal N, and redis-cli
# --pipe must report no errors.
#
#   bash bench/memory-per-key.sh                          # N=1000000, all five runs
#   BENCH_KEYS=200000 TTL=0 bash bench/memory-per-key.sh  # fewer keys, no TTL runs
#
# Settings: BENCH_KEYS (default 1000000), TTL (default 1; 0 skips the TTL runs),
# CAIRN_BIN (default target/release/cairn, built if missing), CAIRN_ARGS (extra settings),
# BENCH_TIMEOUT (seconds allowed for one load, default 600).
# Needs python3, redis-server/redis-cli and memcached; the last two are installed with
# apt-get if missing. Everything listens on ephemeral ports on 127.0.0.1, and every server
# started is stopped when the script exits (also on failure, Ctrl-C and SIGTERM).
set -euo pipefail
N="${BENCH_KEYS:-1000000}"
TTL="${TTL:-1}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-600}"
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ "$N" =~ ^[1-9][0-9]*$ ]] || die "BENCH_KEYS must be a positive integer (got '$N')"
[[ "$TTL" == 0 || "$TTL" == 1 ]] || die "TTL must be 0 or 1 (got '$TTL')"
[[ "$BENCH_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT must be a positive integer"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CAIRN_BIN="${CAIRN_BIN:-target/release/cairn}"
[[ "$CAIRN_BIN" == /* ]] || CAIRN_BIN="$ROOT/$CAIRN_BIN"
command -v python3 >/dev/null || die "python3 is required"
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools
fi
if ! command -v memcached >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq memcached
fi
[[ -x "$CAIRN_BIN" ]] || cargo build --release -p cairn
[[ -x "$CAIRN_BIN" ]] || die "cairn binary not executable: $CAIRN_BIN"

WORK="$(mktemp -d -t cairn-mem.XXXXXX)"
SERVER_PID=""   # the one server running at a time
SERVER_PORT=""
LOAD_PID=""     # the load in progress, if any

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_pid "$LOAD_PID"
    stop_pid "$SERVER_PID"
    if [[ $rc -ne 0 && -s "$WORK/server.log" ]]; then
        echo "---- last lines of the server log ----" >&2
        tail -n 20 "$WORK/server.log" >&2
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# The loads, generated once: raw RESP without and with a TTL, and memcached text protocol.
python3 - "$N" "$WORK" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
val = b"v" * 32
with open(f"{work}/load.resp", "wb") as plain, open(f"{work}/load-ttl.resp", "wb") as ttl, \
        open(f"{work}/load.mc", "wb") as mc:
    for i in range(n):
        key = b"key:%012d" % i
        plain.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$32\r\n%s\r\n" % (len(key), key, val))
        ttl.write(b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$32\r\n%s\r\n$2\r\nEX\r\n$5\r\n86400\r\n"
                  % (len(key), key, val))
        mc.write(b"set %s 0 0 32 noreply\r\n%s\r\n" % (key, val))
PY

# memcached client (python3 stdlib): `mc.py load PORT FILE` sends FILE, then `version`, and
# waits for the VERSION reply, which memcached sends only after every earlier command on the
# connection is done; any other reply is an error. `mc.py stat PORT NAME` prints one stat.
cat >"$WORK/mc.py" <<'PY'
import socket, sys, threading
cmd, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=60)
if cmd == "load":
    got = bytearray()
    def reader():
        while not got.endswith(b"\r\n") or b"VERSION" not in got:
            chunk = s.recv(65536)
            if not chunk:
                break
            got.extend(chunk)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    with open(sys.argv[3], "rb") as f:
        while chunk := f.read(1 << 20):
            s.sendall(chunk)
    s.sendall(b"version\r\n")
    t.join()
    if not got.startswith(b"VERSION"):
        sys.exit(f"memcached replied: {bytes(got[:300])!r}")
elif cmd == "stat":
    s.sendall(b"stats\r\n")
    buf = b""
    while not buf.endswith(b"END\r\n"):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("memcached closed the connection during stats")
        buf += chunk
    stats = dict(l.split(b" ", 2)[1:] for l in buf.split(b"\r\n") if l.startswith(b"STAT "))
    print(stats[sys.argv[3].encode()].decode())
elif cmd == "ping":
    s.sendall(b"version\r\n")
    sys.exit(0 if s.recv(100).startswith(b"VERSION") else 1)
PY

wait_ready() { # wait_ready NAME PID CHECK...: up to 20 s for CHECK to succeed; 1 if PID exited
    local name=$1 pid=$2; shift 2
    local deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        is_running "$pid" || return 1
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "$name was not ready within 20 s"
}
resp_ping() { [[ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$1" ping)" == PONG ]]; }

declare -A BPK=()   # name -> bytes per key
report() { # report NAME KEYS BEFORE_KB AFTER_KB
    local line
    line=$(python3 -c "import sys; n,k,b,a=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4]); print(f'{n:10} keys={k} rss_before={b/1024:.1f}MiB rss_after={a/1024:.1f}MiB bytes_per_key={(a-b)*1024/k:.1f}')" "$@")
    echo "$line"
    BPK[$1]="${line##*bytes_per_key=}"
}
run_load() { # run_load INPUT CMD...: the load in the background under a time limit
    local input=$1; shift
    timeout "$BENCH_TIMEOUT" "$@" <"$input" >"$WORK/load.out" 2>&1 &
    LOAD_PID=$!
    local rc=0
    wait "$LOAD_PID" || rc=$?
    LOAD_PID=""
    if [[ $rc -ne 0 ]]; then
        cat "$WORK/load.out" >&2
        [[ $rc -eq 124 ]] && echo "timed out after ${BENCH_TIMEOUT}s: $*" >&2
        die "load failed (exit $rc): $*"
    fi
}

# start_server NAME KIND(cairn|redis|memcached): start a fresh server on a free ephemeral
# port and wait until it answers; sets SERVER_PID and SERVER_PORT. The port is free when
# chosen, but another process may take it before the server binds it (test suites run
# on this machine too), so "Address already in use" gets a new port, up to 5 times.
start_server() {
    local name=$1 kind=$2 attempt port user=()
    [[ $EUID -eq 0 ]] && user=(-u root)   # memcached refuses to run as root without -u
    for ((attempt = 1; attempt <= 5; attempt++)); do
        port=$(free_port)
        case $kind in
        cairn)
            # shellcheck disable=SC2086 # CAIRN_ARGS is a list of extra words on purpose
            (cd "$WORK" && exec "$CAIRN_BIN" server --port "$port" --bind 127.0.0.1 --save "" \
                --appendonly no --loglevel warning ${CAIRN_ARGS:-}) >"$WORK/server.log" 2>&1 & ;;
        redis)
            (cd "$WORK" && exec redis-server --port "$port" --bind 127.0.0.1 --save "" \
                --appendonly no --daemonize no --loglevel warning) >"$WORK/server.log" 2>&1 & ;;
        memcached)
            (cd "$WORK" && exec memcached -l 127.0.0.1 -p "$port" -U 0 -m 1024 "${user[@]}") \
                >"$WORK/server.log" 2>&1 & ;;
        esac
        SERVER_PID=$!
        SERVER_PORT=$port
        if [[ $kind == memcached ]]; then
            wait_ready "$name" "$SERVER_PID" python3 "$WORK/mc.py" ping "$port" && return 0
        else
            wait_ready "$name" "$SERVER_PID" resp_ping "$port" && return 0
        fi
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
        grep -qi 'address already in use' "$WORK/server.log" || die "$name exited before it was ready"
        echo "note: port $port was taken before $name bound it; trying another" >&2
    done
    die "$name: no free port after 5 attempts"
}

measure_resp() { # measure_resp NAME SERVER(cairn|redis) LOADFILE
    local name=$1 server=$2 load=$3 port pid before after keys
    start_server "$name" "$server"
    pid=$SERVER_PID port=$SERVER_PORT
    sleep 1
    before=$(rss_kb "$pid")
    run_load "$load" redis-cli -h 127.0.0.1 -p "$port" --pipe
    grep -q 'errors: 0,' "$WORK/load.out" || { cat "$WORK/load.out" >&2; die "$name: redis-cli --pipe reported errors"; }
    sleep 2
    after=$(rss_kb "$pid")
    keys=$(timeout 10 redis-cli -h 127.0.0.1 -p "$port" dbsize)
    [[ "$keys" == "$N" ]] || die "$name: DBSIZE is '$keys', expected $N"
    if [[ $load == *ttl* ]]; then
        local t
        t=$(timeout 10 redis-cli -h 127.0.0.1 -p "$port" ttl key:000000000000)
        ((t > 86000)) || die "$name: TTL of key:000000000000 is '$t', expected about 86400"
    fi
    report "$name" "$keys" "$before" "$after"
    stop_pid "$pid"
    SERVER_PID=""
}

measure_memcached() {
    local port pid before after items evictions
    start_server memcached memcached
    pid=$SERVER_PID port=$SERVER_PORT
    sleep 1
    before=$(rss_kb "$pid")
    run_load /dev/null python3 "$WORK/mc.py" load "$port" "$WORK/load.mc"
    sleep 2
    after=$(rss_kb "$pid")
    items=$(timeout 10 python3 "$WORK/mc.py" stat "$port" curr_items)
    [[ "$items" == "$N" ]] || die "memcached: curr_items is '$items', expected $N"
    evictions=$(timeout 10 python3 "$WORK/mc.py" stat "$port" evictions)
    [[ "$evictions" == 0 ]] || die "memcached evicted $evictions items"
    report memcached "$items" "$before" "$after"
    stop_pid "$pid"
    SERVER_PID=""
}

echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); cairn: $CAIRN_BIN ($("$CAIRN_BIN" --version 2>/dev/null | head -n 1 || echo '?'))"
echo "versions: $(redis-server --version | cut -d' ' -f1-3); $(memcached -V)"
measure_resp cairn cairn "$WORK/load.resp"
measure_resp redis redis "$WORK/load.resp"
measure_memcached
if [[ $TTL == 1 ]]; then
    measure_resp cairn-ttl cairn "$WORK/load-ttl.resp"
    measure_resp redis-ttl redis "$WORK/load-ttl.resp"
fi
echo "load: $N keys key:%012d, 32-byte values; *-ttl: SET ... EX 86400 on each; memcached: set ... noreply, -m 1024"
python3 - "${BPK[cairn]}" "${BPK[redis]}" "${BPK[memcached]}" "${BPK[cairn-ttl]:-}" "${BPK[redis-ttl]:-}" <<'PY'
import sys
c, r, m = map(float, sys.argv[1:4])
line = f"summary: bytes_per_key cairn/redis={c / r:.2f} cairn/memcached={c / m:.2f}"
if sys.argv[4]:
    ct, rt = float(sys.argv[4]), float(sys.argv[5])
    line += f"; TTL overhead (ttl - plain) cairn {ct - c:+.1f} B/key, redis {rt - r:+.1f} B/key"
print(line)
PY
