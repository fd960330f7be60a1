#!/usr/bin/env python3
"""bench/hll_error.py — HyperLogLog accuracy, Cairn beside redis-server, in one run.

Adds distinct items ("item:0", "item:1", ...) to one HLL on each server with pipelined
PFADDs (1000 elements a command) and, each time the true count reaches 10^3, 10^4, ...,
10^7, asks PFCOUNT. Prints, side by side, the estimate, the true count and the relative
error on each server, and whether the two estimates are equal (they should be: same
hash, same registers, same estimator), then how long each server took.

10^8 is added only with --with-1e8, and then only if the run to 10^7 suggests it ends
within three minutes per server (it is skipped with a note otherwise).

Cairn is target/release/cairn, used only if it exists and is newer than every source
file under crates/ (and Cargo.lock); otherwise Cairn is skipped with a note (this
script never builds it). --cairn-bin PATH uses another binary as it is (say a debug
build, to check the script itself; its timings then mean nothing).

  python3 bench/hll_error.py                      # up to 10^7
  python3 bench/hll_error.py --max-exp 6          # up to 10^6
  python3 bench/hll_error.py --with-1e8
  python3 bench/hll_error.py --cairn-bin target/debug/cairn --max-exp 5

Standard library only (bench/resp.py's client is too chatty for 10^8 elements: this one
pipelines and skips decoding the 1 / 0 replies it does not need). Every server started
listens on an ephemeral 127.0.0.1 port and is stopped when the script exits.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release", "cairn")
BATCH = 1000  # elements per PFADD
WINDOW = 50  # PFADDs in flight per pipeline round
BUDGET_1E8 = 180.0  # seconds per server allowed for 10^8


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.f = self.s.makefile("rb", buffering=1 << 20)

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def reply(self):
        line = self.f.readline()
        if not line:
            raise OSError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise OSError(f"unexpected reply {line[:80]!r}")

    def call(self, *args):
        self.s.sendall(self.encode(args))
        return self.reply()

    def pipeline(self, frames):
        self.s.sendall(b"".join(frames))
        for _ in frames:
            self.reply()


def pfadd_frame(key, lo, hi):
    """PFADD key item:lo ... item:hi-1, encoded."""
    items = [b"item:%d" % i for i in range(lo, hi)]
    head = b"*%d\r\n$5\r\nPFADD\r\n$%d\r\n%s\r\n" % (len(items) + 2, len(key), key)
    return head + b"".join(b"$%d\r\n%s\r\n" % (len(i), i) for i in items)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, port, where, procs):
    p = subprocess.Popen(argv, cwd=where, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if Conn(port).call("PING") == b"PONG":
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"error: {argv[0]} did not start")


def fill(port, checkpoints):
    """Adds items up to each checkpoint; returns {n: PFCOUNT} and the seconds it took
    to reach each checkpoint (cumulative)."""
    c = Conn(port)
    key = b"hll"
    c.call("DEL", key)
    counts, elapsed = {}, {}
    t0 = time.perf_counter()
    done = 0
    for n in checkpoints:
        while done < n:
            frames = []
            while done < n and len(frames) < WINDOW:
                hi = min(done + BATCH, n)
                frames.append(pfadd_frame(key, done, hi))
                done = hi
            c.pipeline(frames)
        counts[n] = c.call("PFCOUNT", key)
        elapsed[n] = time.perf_counter() - t0
    enc = c.call("PFDEBUG", "ENCODING", key)
    c.s.close()
    return counts, elapsed, enc.decode()


def release_is_fresh():
    """Whether target/release/cairn exists and is newer than every source."""
    if not os.path.exists(RELEASE):
        return False, "target/release/cairn does not exist"
    built = os.path.getmtime(RELEASE)
    newest, newest_path = 0.0, ""
    paths = [os.path.join(ROOT, "Cargo.lock"), os.path.join(ROOT, "Cargo.toml")]
    for dirpath, _, files in os.walk(os.path.join(ROOT, "crates")):
        paths += [os.path.join(dirpath, f) for f in files if f.endswith((".rs", ".toml"))]
    for p in paths:
        if os.path.exists(p) and os.path.getmtime(p) > newest:
            newest, newest_path = os.path.getmtime(p), p
    if newest > built:
        return False, f"target/release/cairn is older than {os.path.relpath(newest_path, ROOT)}"
    return True, ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-exp", type=int, default=7, help="last power of ten (3..7)")
    ap.add_argument("--with-1e8", action="store_true", help="also 10^8 if it fits in 3 min")
    ap.add_argument("--cairn-bin", help="a Cairn binary to use as it is")
    ap.add_argument("--redis-server", default="redis-server")
    args = ap.parse_args()

    exps = list(range(3, min(args.max_exp, 7) + 1))
    checkpoints = [10**e for e in exps]
    notes = []

    servers = []
    if shutil.which(args.redis_server) is None:
        sys.exit(f"error: {args.redis_server} not found")
    version = subprocess.run([args.redis_server, "--version"], capture_output=True, text=True)
    servers.append(("redis", [args.redis_server], version.stdout.split()[2]))
    if args.cairn_bin:
        servers.append(("cairn", [os.path.abspath(args.cairn_bin), "server"], args.cairn_bin))
        notes.append(f"Cairn binary given: {args.cairn_bin} (used as it is)")
    else:
        fresh, why = release_is_fresh()
        if fresh:
            servers.append(("cairn", [RELEASE, "server"], "target/release/cairn"))
        else:
            notes.append(f"Cairn skipped: {why} (this script does not build it)")

    work = tempfile.mkdtemp(prefix="cairn-hll.")
    procs = []
    results = {}
    try:
        for name, argv, label in servers:
            port = free_port()
            where = os.path.join(work, name)
            os.makedirs(where)
            start(argv + ["--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", where], port, where, procs)
            counts, elapsed, enc = fill(port, checkpoints)
            if args.with_1e8 and args.max_exp >= 7:
                # Adding 10^8 - 10^7 more costs about 9x what reaching 10^7 did.
                guess = elapsed[10**7] * 10
                if guess <= BUDGET_1E8:
                    more, more_t, enc = fill(port, checkpoints + [10**8])
                    counts, elapsed = more, more_t
                else:
                    notes.append(f"10^8 skipped on {name}: about {guess:.0f} s expected "
                                 f"(10^7 took {elapsed[10**7]:.1f} s), over {BUDGET_1E8:.0f} s")
            results[name] = (counts, elapsed, enc, label)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)

    names = [n for n, _, _ in servers]
    every = sorted(set().union(*(r[0].keys() for r in results.values())))
    head = f"{'true count':>12}"
    for n in names:
        head += f" | {n + ' PFCOUNT':>15} {n + ' error':>12}"
    if len(names) == 2:
        head += " | equal"
    print(head)
    print("-" * len(head))
    for n in every:
        line = f"{n:>12}"
        got = []
        for name in names:
            c = results[name][0].get(n)
            got.append(c)
            if c is None:
                line += f" | {'-':>15} {'-':>12}"
            else:
                line += f" | {c:>15} {(c - n) / n:>+12.4%}"
        if len(names) == 2:
            line += " | " + ("yes" if got[0] == got[1] else "NO")
        print(line)
    print()
    for name in names:
        counts, elapsed, enc, label = results[name]
        last = max(counts)
        rate = last / elapsed[last]
        print(f"{name} ({label}): {last} items in {elapsed[last]:.1f} s "
              f"({rate:,.0f} items/s, PFADD of {BATCH}, {WINDOW} in flight), final encoding {enc}")
    for n in notes:
        print("note:", n)


if __name__ == "__main__":
    main()
