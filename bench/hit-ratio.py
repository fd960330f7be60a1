#!/usr/bin/env python3
"""bench/hit-ratio.py -- hit ratio of a cache-aside replay against Redis-protocol servers.

Method
------
1. Trace. One request trace is generated in memory per run, from --seed, and every
   server replays the same trace:

   * --keys popular keys (default 1,000,000). The key at popularity rank r (1-based) is
     requested with probability proportional to 1 / r**alpha (Zipf, --alpha 0.9). The CDF
     over the ranks is built once (cumulative sum of 1/r**alpha) and each request draws a
     uniform random number from random.Random(seed) and looks it up with bisect.
   * Rank r is named `k:<perm[r]>`, where perm is a seeded shuffle of 0..keys-1, so that
     popularity does not follow key order (or hash order).
   * With probability --ohw (default 0.2) a request is instead a one-hit wonder,
     `ohw:<counter>`: a key that is never requested again.
   * --requests requests in total (default 3,000,000); every value is --value-size bytes
     (default 100).

2. Replay, cache-aside. For each request: GET key; on a miss, SET key value. Hits and
   misses are counted only after the first --warmup fraction (default 0.2) of the
   requests. To go fast the replay is pipelined: the GETs of --batch requests (default
   500) go out in one write and their replies are read; then the SETs for that batch's
   misses go out as one pipeline. Compared with a strict one-request-at-a-time replay,
   this moves each SET after the GETs that follow it in the same batch: a key requested
   twice in one batch misses twice (and is SET twice) if it was not cached, and the SETs
   of a batch can evict keys the same batch has just read. For exact LRU this changes
   nothing measurable, but --batch 1 (the strict replay) is ~10x slower, and Redis's LRU
   clock (1 s ticks) and LFU decay (per minute) follow wall time, so only compare runs
   made with the same --batch (see bench/README.md).
   A SET refused with an -OOM error means "not cached": it is counted in the OOM column
   and the replay goes on.

3. Servers. By default redis-server runs twice, a fresh process each time, with
   `--save "" --appendonly no --maxmemory 16mb --maxmemory-policy P` for P in
   allkeys-lru and allkeys-lfu. Cairn (--cairn-bin, default target/release/cairn if it
   exists) runs once per --cairn-policies entry (default allkeys-tinylfu, Cairn's
   default, then allkeys-lfu and allkeys-lru), with --cairn-args appended to its
   command line. Every server listens on a free ephemeral port on 127.0.0.1.

4. Report. One line per (server, policy): hit ratio of the counted requests, keys held at
   the end (DBSIZE), RSS of the server process at the end (VmRSS), SETs refused with OOM
   (whole replay, warm-up included) and the wall time of the replay. A last line gives
   the ratio of an infinite cache, from the trace alone: a counted request is a hit iff
   its key was requested earlier, warm-up included.

Every server the script starts is stopped when it exits: try/finally, atexit, handlers
for SIGTERM/SIGHUP/SIGINT, and PR_SET_PDEATHSIG so even a SIGKILL of the script takes
the servers with it.

    python3 bench/hit-ratio.py                                  # full run, several minutes
    python3 bench/hit-ratio.py --requests 200000 --keys 100000  # quick run

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import ctypes
import itertools
import os
import random
import shutil
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CAIRN_BIN = ROOT / "target" / "release" / "cairn"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
SOCKET_TIMEOUT_S = 60.0
PR_SET_PDEATHSIG = 1


# ------------------------------------------------------------------------ trace --

@dataclass(frozen=True)
class Trace:
    """The request sequence. ids[i] >= 0 is key `k:<id>`; ids[i] < 0 is `ohw:<-id-1>`."""

    ids: array
    n_keys: int

    def __len__(self) -> int:
        return len(self.ids)


def zipf_cdf(n_keys: int, alpha: float) -> list[float]:
    """Cumulative sums of 1/r**alpha for ranks r = 1..n_keys (not normalised)."""
    return list(itertools.accumulate(1.0 / r**alpha for r in range(1, n_keys + 1)))


def make_trace(n_requests: int, n_keys: int, alpha: float, ohw: float, seed: int) -> Trace:
    """Zipf(alpha) requests over n_keys ranks, a fraction `ohw` replaced by one-hit wonders."""
    rng = random.Random(seed)
    perm = list(range(n_keys))
    rng.shuffle(perm)
    cdf = zipf_cdf(n_keys, alpha)
    total, last = cdf[-1], n_keys - 1
    ids = array("q", bytes(8 * n_requests))
    uniform, find = rng.random, bisect.bisect_right
    next_ohw = 0
    for i in range(n_requests):
        if uniform() < ohw:
            ids[i] = -1 - next_ohw
            next_ohw += 1
        else:
            ids[i] = perm[min(find(cdf, uniform() * total), last)]
    return Trace(ids, n_keys)


def key_name(key_id: int) -> bytes:
    return b"k:%d" % key_id if key_id >= 0 else b"ohw:%d" % (-1 - key_id)


def infinite_cache_hits(trace: Trace, warmup: int) -> int:
    """Hits among requests warmup.. of a cache that never evicts (ohw keys never repeat)."""
    seen = bytearray(trace.n_keys)
    hits = 0
    for i, key_id in enumerate(trace.ids):
        if key_id < 0:
            continue
        if seen[key_id]:
            hits += i >= warmup
        else:
            seen[key_id] = 1
    return hits


# ------------------------------------------------------------------ RESP client --

class RespError(Exception):
    """An error reply (`-ERR ...`). Returned as a value by read_reply, not raised."""


def encode_command(*args: bytes) -> bytes:
    """A command as a RESP2 array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class RespConnection:
    """A minimal blocking RESP2 client: pipelined writes, one reply read at a time."""

    def __init__(self, port: int, timeout: float = SOCKET_TIMEOUT_S):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb", buffering=1 << 16)

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def send(self, commands: list[bytes]) -> None:
        self.sock.sendall(b"".join(commands))

    def read_reply(self):
        """One reply: str (+), RespError (-), int (:), bytes or None ($), list or None (*)."""
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed by the server")
        kind, body = line[:1], line[1:-2]
        if kind == b"$":
            size = int(body)
            if size < 0:
                return None
            data = self.reader.read(size + 2)
            if len(data) != size + 2:
                raise ConnectionError("connection closed inside a bulk string")
            return data[:-2]
        if kind == b"+":
            return body.decode()
        if kind == b"-":
            return RespError(body.decode(errors="replace"))
        if kind == b":":
            return int(body)
        if kind == b"*":
            count = int(body)
            return None if count < 0 else [self.read_reply() for _ in range(count)]
        raise ConnectionError(f"unexpected reply line {line[:40]!r}")

    def call(self, *args: bytes):
        self.send([encode_command(*args)])
        return self.read_reply()


# ---------------------------------------------------------------------- servers --

@dataclass
class ServerSpec:
    name: str
    policy: str
    argv: list[str]  # "{port}" and "{dir}" are filled in at start


def redis_spec(redis_bin: str, policy: str, maxmemory: str) -> ServerSpec:
    return ServerSpec("redis", policy, [
        redis_bin, "--port", "{port}", "--bind", "127.0.0.1", "--dir", "{dir}",
        "--save", "", "--appendonly", "no", "--daemonize", "no",
        "--maxmemory", maxmemory, "--maxmemory-policy", policy,
    ])


def cairn_spec(cairn_bin: str, policy: str, maxmemory: str, extra: list[str]) -> ServerSpec:
    return ServerSpec("cairn", policy, [
        cairn_bin, "server", "--port", "{port}", "--bind", "127.0.0.1",
        "--maxmemory", maxmemory, "--maxmemory-policy", policy, *extra,
    ])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent_hook():
    """A preexec_fn that makes the child get SIGKILL when the script dies (Linux), or None.

    The C library is looked up here, in the parent, so the child only makes one call."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ServerPool:
    """Starts server processes and guarantees they are all stopped."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.procs: list[subprocess.Popen] = []
        self.preexec = die_with_parent_hook()

    def start(self, spec: ServerSpec) -> tuple[subprocess.Popen, int, Path]:
        port = free_port()
        rundir = Path(tempfile.mkdtemp(prefix=f"{spec.name}-{spec.policy}-", dir=self.workdir))
        argv = [a.replace("{port}", str(port)).replace("{dir}", str(rundir)) for a in spec.argv]
        log = rundir / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=rundir,
                                    start_new_session=True, preexec_fn=self.preexec)
        self.procs.append(proc)
        try:
            wait_until_ready(proc, port, log)
        except BaseException:
            self.stop(proc)
            raise
        return proc, port, log

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)


def log_excerpt(log: Path, head: int = 3, tail: int = 5) -> str:
    """The first and last lines of a server log (the error is usually at one end)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    if len(lines) > head + tail:
        lines = lines[:head] + ["  [...]"] + lines[-tail:]
    return "\n".join("  | " + line for line in lines)


def wait_until_ready(proc: subprocess.Popen, port: int, log: Path) -> None:
    """Polls PING until the server answers PONG; raises if it exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode}:\n{log_excerpt(log)}")
        try:
            conn = RespConnection(port, timeout=2.0)
            try:
                if conn.call(b"PING") == "PONG":
                    return
            finally:
                conn.close()
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server not answering PING after {START_TIMEOUT_S:.0f} s:\n{log_excerpt(log)}")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP/SIGINT into SystemExit so that finally blocks and atexit run."""
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, handler)


# ----------------------------------------------------------------------- replay --

@dataclass
class ReplayResult:
    hits: int = 0
    misses: int = 0
    oom: int = 0
    seconds: float = 0.0

    @property
    def ratio(self) -> float:
        counted = self.hits + self.misses
        return self.hits / counted if counted else float("nan")


def expect_ok(reply, what: str) -> bool:
    """True for +OK, False for -OOM; anything else is a failure of the run."""
    if reply == "OK":
        return True
    if isinstance(reply, RespError) and str(reply).startswith("OOM"):
        return False
    raise RuntimeError(f"unexpected reply to {what}: {reply!r}")


def replay_batch(conn: RespConnection, keys: list[bytes], value: bytes) -> tuple[list[bool], int]:
    """GET every key in one pipeline, then SET the misses in a second one.

    Returns the hit flag of each request and the number of SETs refused with OOM."""
    conn.send([encode_command(b"GET", k) for k in keys])
    hit = []
    for _ in keys:
        reply = conn.read_reply()
        if isinstance(reply, RespError):
            raise RuntimeError(f"unexpected reply to GET: {reply}")
        hit.append(reply is not None)
    missed = [k for k, h in zip(keys, hit) if not h]
    if not missed:
        return hit, 0
    conn.send([encode_command(b"SET", k, value) for k in missed])
    oom = sum(not expect_ok(conn.read_reply(), "SET") for _ in missed)
    return hit, oom


def replay(conn: RespConnection, trace: Trace, value: bytes, warmup: int,
           batch: int) -> ReplayResult:
    result = ReplayResult()
    started = time.monotonic()
    for start in range(0, len(trace), batch):
        keys = [key_name(i) for i in trace.ids[start:start + batch]]
        hit, oom = replay_batch(conn, keys, value)
        result.oom += oom
        counted = hit[max(0, warmup - start):]
        hits = sum(counted)
        result.hits += hits
        result.misses += len(counted) - hits
    result.seconds = time.monotonic() - started
    return result


@dataclass
class Row:
    server: str
    policy: str
    ratio: float | None = None
    keys: int | None = None
    rss_mb: float | None = None
    oom: int | None = None
    seconds: float | None = None
    error: str | None = None


def run_server(pool: ServerPool, spec: ServerSpec, trace: Trace, value: bytes,
               warmup: int, batch: int) -> Row:
    """Fresh server, full replay, measurements, stop. Errors become a row, not a crash."""
    row = Row(spec.name, spec.policy)
    try:
        proc, port, _log = pool.start(spec)
    except (RuntimeError, OSError) as e:
        row.error = f"failed to start: {e}"
        return row
    try:
        conn = RespConnection(port)
        try:
            result = replay(conn, trace, value, warmup, batch)
            row.keys = conn.call(b"DBSIZE")
        finally:
            conn.close()
        row.rss_mb = rss_mb(proc.pid)
        row.ratio, row.oom, row.seconds = result.ratio, result.oom, result.seconds
    except (RuntimeError, OSError) as e:
        row.error = f"replay failed: {e}"
    finally:
        pool.stop(proc)
    return row


# ----------------------------------------------------------------------- output --

HEADER = f"{'server':<9}{'policy':<14}{'hit_ratio':>10}{'keys':>10}{'rss_mb':>9}{'oom':>10}{'wall_s':>9}"


def format_row(row: Row) -> str:
    if row.error:
        return f"{row.server:<9}{row.policy:<14}  ERROR: {row.error}"
    return (f"{row.server:<9}{row.policy:<14}{row.ratio:>10.3f}{row.keys:>10}"
            f"{row.rss_mb:>9.1f}{row.oom:>10}{row.seconds:>9.1f}")


def format_infinite(ratio: float) -> str:
    return f"{'infinite':<9}{'-':<14}{ratio:>10.3f}{'-':>10}{'-':>9}{'-':>10}{'-':>9}"


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ------------------------------------------------------------------------- main --

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Hit ratio of a cache-aside replay of a Zipf trace with one-hit wonders.")
    p.add_argument("--requests", type=int, default=3_000_000, help="requests in the trace")
    p.add_argument("--keys", type=int, default=1_000_000, help="popular keys (Zipf ranks)")
    p.add_argument("--alpha", type=float, default=0.9, help="Zipf exponent")
    p.add_argument("--ohw", type=float, default=0.2, help="fraction of one-hit-wonder requests")
    p.add_argument("--value-size", type=int, default=100, help="bytes per value")
    p.add_argument("--seed", type=int, default=1, help="seed of the trace")
    p.add_argument("--warmup", type=float, default=0.2,
                   help="fraction of requests replayed before counting")
    p.add_argument("--batch", type=int, default=500, help="GETs per pipeline (1: strict replay)")
    p.add_argument("--maxmemory", default="16mb", help="maxmemory of every server")
    p.add_argument("--redis-server", default="redis-server",
                   help="redis-server binary ('' to skip Redis)")
    p.add_argument("--redis-policies", default="allkeys-lru,allkeys-lfu",
                   help="comma-separated maxmemory policies for Redis")
    p.add_argument("--cairn-bin", default=str(DEFAULT_CAIRN_BIN) if DEFAULT_CAIRN_BIN.exists() else "",
                   help="Cairn binary (default target/release/cairn if it exists; '' to skip)")
    p.add_argument("--cairn-policies", default="allkeys-tinylfu,allkeys-lfu,allkeys-lru",
                   help="comma-separated maxmemory policies for Cairn")
    p.add_argument("--cairn-args", default="",
                   help="extra settings for every Cairn run, e.g. '--maxmemory-samples 10'")
    args = p.parse_args(argv)
    if args.requests < 1 or args.keys < 1 or args.value_size < 0:
        p.error("--requests and --keys must be >= 1, --value-size >= 0")
    if not 0 <= args.ohw <= 1 or not 0 <= args.warmup < 1:
        p.error("--ohw must be in [0, 1] and --warmup in [0, 1)")
    if not 1 <= args.batch <= 10_000:
        p.error("--batch must be between 1 and 10000")
    return args


def server_specs(args: argparse.Namespace) -> list[ServerSpec]:
    specs = []
    if args.redis_server:
        redis_bin = shutil.which(args.redis_server)
        if redis_bin is None:
            sys.exit(f"error: {args.redis_server} not found "
                     "(apt-get install -y redis-server redis-tools, or --redis-server '')")
        specs += [redis_spec(redis_bin, p, args.maxmemory) for p in split_list(args.redis_policies)]
    if args.cairn_bin:
        cairn_bin = os.path.abspath(args.cairn_bin)
        if not os.access(cairn_bin, os.X_OK):
            sys.exit(f"error: Cairn binary not executable: {cairn_bin} "
                     "(cargo build --release -p cairn, or --cairn-bin '')")
        extra = shlex.split(args.cairn_args)
        specs += [cairn_spec(cairn_bin, p, args.maxmemory, extra)
                  for p in split_list(args.cairn_policies)]
    return specs


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    specs = server_specs(args)
    install_signal_handlers()

    print(f"trace: {args.requests} requests, {args.keys} keys, Zipf alpha {args.alpha}, "
          f"one-hit wonders {args.ohw:.0%}, values {args.value_size} B, seed {args.seed}")
    started = time.monotonic()
    trace = make_trace(args.requests, args.keys, args.alpha, args.ohw, args.seed)
    warmup = int(args.requests * args.warmup)
    infinite = infinite_cache_hits(trace, warmup) / max(1, args.requests - warmup)
    print(f"       generated in {time.monotonic() - started:.1f} s; "
          f"counted requests {args.requests - warmup} (warm-up {warmup})")
    print(f"replay: GET, SET on miss; {args.batch} GETs per pipeline; maxmemory {args.maxmemory}")
    for spec in specs:
        print(f"server: {spec.name} {spec.policy}: "
              f"{tool_version([spec.argv[0], '--version'])}")
    print()
    print(HEADER, flush=True)

    value = b"v" * args.value_size
    failed = False
    with tempfile.TemporaryDirectory(prefix="hit-ratio-") as workdir:
        pool = ServerPool(Path(workdir))
        atexit.register(pool.stop_all)
        try:
            for spec in specs:
                row = run_server(pool, spec, trace, value, warmup, args.batch)
                failed |= row.error is not None
                print(format_row(row), flush=True)
        finally:
            pool.stop_all()
    print(format_infinite(infinite))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
