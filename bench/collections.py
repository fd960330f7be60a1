#!/usr/bin/env python3
"""bench/collections.py — hashes and sets, Cairn against redis-server, in one run.

1. Throughput (ops/s, medians of ABAB rounds, and Cairn/Redis):
     redis-benchmark -t hset,sadd,spop -n N -r 100000 -c 50 -P {1,16} --csv -q
     redis-benchmark -n N -c 50 -P {1,16} HGETALL h10     (a hash of 10 fields)
     redis-benchmark -n N -c 50 -P {1,16} SMEMBERS s10    (a set of 10 members)
2. Resident bytes per element (RSS growth / elements, a fresh server per shape):
     100k hashes of 10 fields     HSET hash:NNNNNN field:0 value:0000 ... (10 pairs)
     one hash of 1M fields        HSET big field:NNNNNNN value:NNNNNNN (100 pairs a command)
     10k integer sets of 100      SADD iset:NNNNN 0 1 ... 99
     one set of 1M members        SADD bigset member:NNNNNNN (100 a command)
3. A 1M-field hash: how long SAVE, MIGRATE (to a fresh server of the same kind) and DEL
   take on each server, and the longest PING another client waited meanwhile.

Each server runs with its defaults (redis-server 7.0's binary default keeps hashes of up
to 512 fields packed; Cairn's is redis.conf's 128). Everything listens on ephemeral
127.0.0.1 ports; every server started is stopped when the script exits.

  python3 bench/collections.py                    # N=200000 requests, 3 rounds
  BENCH_N=100000 BENCH_ROUNDS=1 python3 bench/collections.py
Settings: BENCH_N, BENCH_ROUNDS, CAIRN_BIN (default target/release/cairn, built if
missing), SKIP_THROUGHPUT=1, SKIP_MEMORY=1, SKIP_BIG_KEY=1.
"""

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(os.environ.get("BENCH_N", "200000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CAIRN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "target/release/cairn"))
WORK = tempfile.mkdtemp(prefix="cairn-collections.")
PROCS = []


def die(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def cleanup(*_):
    for p in PROCS:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
    shutil.rmtree(WORK, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Conn:
    """A RESP connection for loading and a few commands."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.buf = b""

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                die("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"-":
            die(f"server error: {rest.decode()}")
        if kind in (b"+", b":"):
            return rest
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(1 << 20)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self._reply() for _ in range(int(rest))]
        die(f"unexpected reply {line!r}")

    def call(self, *args):
        self.s.sendall(self.encode(args))
        return self._reply()

    def pipeline(self, commands, window=2000):
        """Sends commands in pipelined windows, reading every reply."""
        batch = []
        for c in commands:
            batch.append(self.encode(c))
            if len(batch) >= window:
                self.s.sendall(b"".join(batch))
                for _ in batch:
                    self._reply()
                batch = []
        if batch:
            self.s.sendall(b"".join(batch))
            for _ in batch:
                self._reply()


def start(kind):
    port = free_port()
    # A directory of its own: neither server may find the other's snapshot at start.
    where = tempfile.mkdtemp(prefix=kind + ".", dir=WORK)
    if kind == "cairn":
        argv = [CAIRN, "server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--loglevel", "warning", "--dir", where]
    else:
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--loglevel", "warning", "--dir", where]
    p = subprocess.Popen(argv, cwd=where, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(p)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if Conn(port).call("PING") == b"PONG":
                return p, port
        except OSError:
            time.sleep(0.1)
    die(f"{kind} did not start")


def stop(p):
    p.terminate()
    p.wait(10)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bench(port, pipe, args):
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(N), "-c", "50",
           "-P", str(pipe), "--csv", "-q"] + args
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        die(f"{' '.join(cmd)} failed: {out.stderr}")
    rps = {}
    for line in out.stdout.splitlines():
        parts = line.split('"')
        if len(parts) >= 4 and parts[1] and parts[3].replace(".", "").isdigit():
            rps[parts[1].split()[0]] = float(parts[3])
    return rps


def throughput():
    servers = {k: start(k) for k in ("cairn", "redis")}
    results = {}
    for name, (_, port) in servers.items():
        c = Conn(port)
        c.call("HSET", "h10", *sum(([f"field:{i}", f"value:{i:04d}"] for i in range(10)), []))
        c.call("SADD", "s10", *[f"member:{i}" for i in range(10)])
    loads = [
        ("-t hset,sadd,spop -r 100000", ["-t", "hset,sadd,spop", "-r", "100000"]),
        ("HGETALL h10", ["HGETALL", "h10"]),
        ("SMEMBERS s10", ["SMEMBERS", "s10"]),
    ]
    for rnd in range(ROUNDS):
        order = ["cairn", "redis"] if rnd % 2 == 0 else ["redis", "cairn"]
        for pipe in (1, 16):
            for _, args in loads:
                for name in order:
                    for test, rps in bench(servers[name][1], pipe, args).items():
                        results.setdefault((test, pipe, name), []).append(rps)
        print(f"[round {rnd + 1}/{ROUNDS}] done", flush=True)
    for p, _ in servers.values():
        stop(p)
    print(f"\n== Throughput, medians of {ROUNDS} round(s), {N} requests a run, 50 clients")
    print(f"{'test':22} {'cairn ops/s':>12} {'redis ops/s':>12} {'cairn/redis':>12}")
    for test, pipe in sorted({(t, p) for t, p, _ in results}, key=lambda x: (x[1], x[0])):
        c = statistics.median(results[(test, pipe, "cairn")])
        r = statistics.median(results[(test, pipe, "redis")])
        print(f"{test + ' P' + str(pipe):22} {c:12.0f} {r:12.0f} {c / r:12.2f}")
    print("commands: redis-benchmark -h 127.0.0.1 -p PORT -n N -c 50 -P PIPE --csv -q "
          + " | ".join(a for a, _ in loads))


def shapes():
    def hashes():
        for h in range(100_000):
            args = ["HSET", f"hash:{h:06d}"]
            for i in range(10):
                args += [f"field:{i}", f"value:{i:04d}"]
            yield args
    def big_hash():
        for start_at in range(0, 1_000_000, 100):
            args = ["HSET", "big"]
            for i in range(start_at, start_at + 100):
                args += [f"field:{i:07d}", f"value:{i:07d}"]
            yield args
    def int_sets():
        for s in range(10_000):
            yield ["SADD", f"iset:{s:05d}"] + list(range(100))
    def big_set():
        for start_at in range(0, 1_000_000, 100):
            yield ["SADD", "bigset"] + [f"member:{i:07d}" for i in range(start_at, start_at + 100)]
    return [
        ("100k hashes x 10 fields", hashes, 1_000_000),
        ("1 hash x 1M fields", big_hash, 1_000_000),
        ("10k int sets x 100", int_sets, 1_000_000),
        ("1 set x 1M members", big_set, 1_000_000),
    ]


def memory():
    print("\n== Resident bytes per element (fresh server per shape; RSS growth / elements)")
    print(f"{'shape':26} {'cairn':>8} {'redis':>8} {'cairn/redis':>12}  encodings (cairn / redis)")
    for label, gen, elements in shapes():
        row = {}
        encs = {}
        for name in ("cairn", "redis"):
            p, port = start(name)
            c = Conn(port)
            time.sleep(0.3)
            before = rss_kb(p.pid)
            c.pipeline(gen(), window=200)
            time.sleep(0.5)
            after = rss_kb(p.pid)
            row[name] = (after - before) * 1024 / elements
            key = {"100k": "hash:000000", "1 hash": "big", "10k": "iset:00000", "1 set": "bigset"}
            k = next(v for kk, v in key.items() if label.startswith(kk))
            encs[name] = c.call("OBJECT", "ENCODING", k).decode()
            stop(p)
        print(f"{label:26} {row['cairn']:8.1f} {row['redis']:8.1f} {row['cairn'] / row['redis']:12.2f}"
              f"  {encs['cairn']} / {encs['redis']}")


class Pinger:
    """PINGs a server from another connection while an operation runs; the longest wait is
    the stall that operation made other clients see."""

    def __init__(self, port):
        import threading
        self.conn = Conn(port)
        self.stop = threading.Event()
        self.worst = 0.0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            t = time.time()
            self.conn.call("PING")
            self.worst = max(self.worst, time.time() - t)
            time.sleep(0.001)

    def __enter__(self):
        self.thread.start()
        time.sleep(0.05)
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join(10)


def timed(port, *cmd):
    """How long `cmd` takes, and the longest PING another client waited meanwhile."""
    c = Conn(port)
    with Pinger(port) as p:
        t = time.time()
        c.call(*cmd)
        took = time.time() - t
    return took, p.worst


def big_key_times():
    print("\n== A 1M-field hash: growing it (HSET, 100 fields a command), SAVE, MIGRATE and DEL")
    print("   (seconds; the longest PING another client waited meanwhile in brackets)")
    for name in ("cairn", "redis"):
        p, port = start(name)
        target, tport = start(name)
        c = Conn(port)
        with Pinger(port) as growing:
            c.pipeline(shapes()[1][1](), window=200)
        save = timed(port, "SAVE")
        mig = timed(port, "MIGRATE", "127.0.0.1", str(tport), "big", "0", "60000", "COPY")
        moved = Conn(tport).call("HLEN", "big")
        dele = timed(port, "DEL", "big")
        print(f"{name:6} grow [{growing.worst:6.3f}]  SAVE {save[0]:6.3f} [{save[1]:6.3f}]"
              f"  MIGRATE {mig[0]:6.3f} [{mig[1]:6.3f}]  DEL {dele[0]:6.3f} [{dele[1]:6.3f}]"
              f"  (target holds {moved.decode()} fields)")
        stop(target)
        stop(p)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not shutil.which("redis-server") or not shutil.which("redis-benchmark"):
        die("redis-server and redis-benchmark are needed (apt-get install redis-server redis-tools)")
    if not os.path.exists(CAIRN):
        subprocess.run(["cargo", "build", "--release", "-p", "cairn"], cwd=ROOT, check=True)
    print("== Cairn vs Redis: hashes and sets")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, cpus: {os.cpu_count()}")
    print(f"cairn: {CAIRN}; {subprocess.run(['redis-server', '--version'], capture_output=True, text=True).stdout.strip()}")
    try:
        if os.environ.get("SKIP_THROUGHPUT") != "1":
            throughput()
        if os.environ.get("SKIP_MEMORY") != "1":
            memory()
        if os.environ.get("SKIP_BIG_KEY") != "1":
            big_key_times()
    finally:
        cleanup()


if __name__ == "__main__":
    main()
