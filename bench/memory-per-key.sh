#!/usr/bin/env bash
# bench/memory-per-key.sh — RSS growth per key, Cairn against redis-server.
#
# Loads N keys `key:%012d` with 32-byte values (issue 3's load) into a fresh Cairn and a
# fresh redis-server, one after the other, and reports (RSS after - RSS before) / N for
# each, read from /proc/<pid>/status (VmRSS). Keys go in through `redis-cli --pipe`.
#
#   bash bench/memory-per-key.sh            # N=1000000
#   BENCH_KEYS=200000 TTL=1 bash bench/memory-per-key.sh   # fewer keys; a TTL on every key
#
# Settings: BENCH_KEYS (default 1000000), TTL (1: SET ... EX 86400 on every key),
# CAIRN_BIN (default target/release/cairn, built if missing), CAIRN_ARGS (extra settings).
set -euo pipefail
N="${BENCH_KEYS:-1000000}"
TTL="${TTL:-0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CAIRN_BIN="${CAIRN_BIN:-target/release/cairn}"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
    apt-get update -qq && apt-get install -y -qq redis-server redis-tools
}
[[ -x "$CAIRN_BIN" ]] || cargo build --release -p cairn

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# The load as raw RESP, generated once.
python3 - "$N" "$TTL" > "$WORK/load.resp" <<'PY'
import sys
n, ttl = int(sys.argv[1]), sys.argv[2] == "1"
out = sys.stdout.buffer
val = b"v" * 32
for i in range(n):
    key = b"key:%012d" % i
    if ttl:
        out.write(b"*5\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$32\r\n%s\r\n$2\r\nEX\r\n$5\r\n86400\r\n" % (len(key), key, val))
    else:
        out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$32\r\n%s\r\n" % (len(key), key, val))
PY

measure() { # name port pid
    local name=$1 port=$2 pid=$3
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    sleep 1
    local before after
    before=$(rss_kb "$pid")
    redis-cli -p "$port" --pipe < "$WORK/load.resp" >/dev/null
    sleep 2
    after=$(rss_kb "$pid")
    local keys
    keys=$(redis-cli -p "$port" dbsize)
    python3 -c "print(f'{\"$name\":8} keys={$keys} rss_before={$before/1024:.1f}MiB rss_after={$after/1024:.1f}MiB bytes_per_key={($after-$before)*1024/$keys:.1f}')"
}

P=$(free_port)
(cd "$WORK" && exec "$ROOT/$CAIRN_BIN" server --port "$P" --loglevel warning ${CAIRN_ARGS:-}) 2>/dev/null &
PIDS+=($!)
measure cairn "$P" "$!"
kill "${PIDS[0]}"

P=$(free_port)
(cd "$WORK" && exec redis-server --port "$P" --save "" --appendonly no --loglevel warning) >/dev/null &
PIDS+=($!)
measure redis "$P" "$!"
echo "load: $N keys key:%012d, 32-byte values$([[ $TTL == 1 ]] && echo ', EX 86400 on each')"
