#!/usr/bin/env python3
"""bench/lists.py — lists, Cairn against redis-server, in one run.

1. Throughput (ops/s, medians of ABAB rounds, cairn/redis, and the server's CPU per request):
     redis-benchmark -h 127.0.0.1 -p PORT -t TEST -n N -c 50 -P {1,16} --csv -q
   for TEST in lpush, rpush, lpop, rpop, lrange_100, lrange_600, one invocation per test and
   in that order on each server, which is the workload of `-t lpush,rpush,lpop,rpop,
   lrange_100,lrange_600`: FLUSHALL, N LPUSH then N RPUSH on `mylist`, N LPOP and N RPOP
   (which empty it again); each lrange test starts from FLUSHALL and redis-benchmark's own
   prefill of N LPUSH, then reads the first 100 or 600 elements N times. LLEN mylist is
   checked after every test (N, 2N, N, 0, N, N), so a pop that found nothing cannot pass for
   a fast one. The two servers alternate test by test; odd rounds run Cairn first.
2. A job queue: QUEUE_CONSUMERS connections (default 50, spread over QUEUE_CONSUMER_PROCS
   processes driven by epoll) loop `BRPOP queue 1`; QUEUE_PRODUCER_PROCS processes push
   `LPUSH queue <payload>` in pipelined batches. The first 19 bytes of each payload are the
   send time (CLOCK_MONOTONIC, ns, shared by all processes); a consumer's pop time minus that
   is the job's latency. Two phases, each QUEUE_SECONDS long (the first QUEUE_WARMUP
   seconds not counted):
     max    producers push as fast as they can, but stop for a moment whenever LPUSH answers
            a list length above QUEUE_BACKLOG, so the queue never runs dry and never grows
            without bound. jobs/s here is the queue's capacity; its latency is mostly the
            backlog waiting (about QUEUE_BACKLOG / jobs/s), not the server's own time.
     paced  producers push at a fixed total rate, the same for both servers: QUEUE_RATE, or
            by default half of the lower of the two servers' max jobs/s in round 1. Here the
            latency is what a job waits when the queue keeps up.
   After each phase the consumers drain the queue; every pushed job must have been popped
   exactly once (pushed = popped, LLEN 0). Reported: jobs/s, p50/p99/max latency, the
   server's CPU per job, and the client's CPU per job and cores used, for both servers
   facing the identical client.
3. Bytes per element of one list of MEM_ELEMENTS (1,000,000) 16-byte elements `elem:%011d`
   (not numbers, so redis-server keeps them as strings), pushed with RPUSH, 100 elements a
   command, in pipelined windows, into a fresh server: (used_memory after - before) and
   (VmRSS after - before), per element.

Each server runs with its defaults, persistence off, on an ephemeral 127.0.0.1 port; every
process the script starts (servers, redis-benchmark, the queue's client processes) is
stopped when it exits, also on failure, Ctrl-C or SIGTERM (and on SIGKILL through
PR_SET_PDEATHSIG). A summary table ends the output.

  CAIRN_BIN=target/release/cairn python3 bench/lists.py          # about 6 minutes here
  BENCH_N=50000 BENCH_ROUNDS=1 QUEUE_SECONDS=4 MEM_ELEMENTS=200000 python3 bench/lists.py
  CAIRN_BIN=$(command -v redis-server) python3 bench/lists.py    # dry run: redis on both sides

Settings: BENCH_N (200000), BENCH_ROUNDS (3), BENCH_TIMEOUT (seconds per redis-benchmark
run, 600), CAIRN_BIN (default target/release/cairn, built if missing; a path whose name
starts with redis-server runs that binary with redis-server's arguments on the "cairn"
side), CAIRN_ARGS, QUEUE_ROUNDS (BENCH_ROUNDS), QUEUE_SECONDS (10), QUEUE_WARMUP (1),
QUEUE_CONSUMERS (50), QUEUE_CONSUMER_PROCS (half the CPUs, 1 to 4: one on two
cores, where a second only adds context switches), QUEUE_PRODUCER_PROCS (1), QUEUE_BATCH (64
LPUSH a pipelined batch), QUEUE_BACKLOG (2000), QUEUE_RATE (0 = derived, as above),
QUEUE_MAX_JOBS (pushes per phase, 20000000), QUEUE_PAYLOAD (bytes, 32), MEM_ELEMENTS
(1000000), SKIP_THROUGHPUT=1, SKIP_QUEUE=1, SKIP_MEMORY=1.
"""

import array
import ctypes
import multiprocessing
import os
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_int(name, default, minimum=1):
    raw = os.environ.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        print(f"error: {name} must be an integer >= {minimum} (got {raw!r})", file=sys.stderr)
        sys.exit(2)
    return value


N = env_int("BENCH_N", 200000)
ROUNDS = env_int("BENCH_ROUNDS", 3)
BENCH_TIMEOUT = env_int("BENCH_TIMEOUT", 600)
CAIRN = os.path.abspath(os.environ.get("CAIRN_BIN") or os.path.join(ROOT, "target/release/cairn"))
if os.environ.get("CAIRN_BIN") and os.sep not in os.environ["CAIRN_BIN"]:
    CAIRN = shutil.which(os.environ["CAIRN_BIN"]) or CAIRN  # a bare name: look it up in PATH
CAIRN_ARGS = shlex.split(os.environ.get("CAIRN_ARGS", ""))
CAIRN_IS_REDIS = os.path.basename(CAIRN).startswith("redis-server")

Q_ROUNDS = env_int("QUEUE_ROUNDS", ROUNDS)
Q_SECONDS = env_int("QUEUE_SECONDS", 10)
Q_WARMUP = env_int("QUEUE_WARMUP", 1, minimum=0)
Q_CONSUMERS = env_int("QUEUE_CONSUMERS", 50)
Q_CONSUMER_PROCS = env_int("QUEUE_CONSUMER_PROCS", min(4, max(1, (os.cpu_count() or 2) // 2)))
Q_PRODUCER_PROCS = env_int("QUEUE_PRODUCER_PROCS", 1)
Q_BATCH = env_int("QUEUE_BATCH", 64)
Q_BACKLOG = env_int("QUEUE_BACKLOG", 2000)
Q_RATE = env_int("QUEUE_RATE", 0, minimum=0)
Q_MAX_JOBS = env_int("QUEUE_MAX_JOBS", 20_000_000)
Q_PAYLOAD = env_int("QUEUE_PAYLOAD", 32, minimum=20)
Q_DRAIN_LIMIT = 15  # seconds after a phase for the consumers to empty the queue
MEM_ELEMENTS = env_int("MEM_ELEMENTS", 1_000_000, minimum=100)

if Q_WARMUP >= Q_SECONDS:
    print("error: QUEUE_WARMUP must be below QUEUE_SECONDS", file=sys.stderr)
    sys.exit(2)
Q_CONSUMER_PROCS = min(Q_CONSUMER_PROCS, Q_CONSUMERS)

WORK = tempfile.mkdtemp(prefix="cairn-lists.")
PROCS = []      # servers: subprocess.Popen
CHILDREN = []   # queue clients: multiprocessing.Process
SUMMARY = []    # (label, cairn, redis, fmt, higher_is_better)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1


class Failure(Exception):
    pass


def die(msg):
    raise Failure(msg)


# ------------------------------------------------------------------- processes --

def _prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


PRCTL = _prctl()


def die_with_parent():
    """In a child: get SIGKILL when the script dies, even by SIGKILL (Linux)."""
    if PRCTL is not None:
        PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def cleanup():
    for p in CHILDREN:
        if p.is_alive():
            p.terminate()
    for p in CHILDREN:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join(5)
    CHILDREN.clear()
    for p in PROCS:
        stop(p)
    shutil.rmtree(WORK, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RespError(str):
    pass


INCOMPLETE = object()


def parse(buf, pos=0):
    """One RESP2/RESP3 reply at buf[pos:]: (value, next position), or (INCOMPLETE, pos)."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return INCOMPLETE, pos
    kind, rest, nxt = buf[pos:pos + 1], buf[pos + 1:end], end + 2
    if kind in (b"+", b":", b","):
        return rest, nxt
    if kind == b"-":
        return RespError(rest.decode(errors="replace")), nxt
    if kind == b"_":
        return None, nxt
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None, nxt
        if len(buf) < nxt + n + 2:
            return INCOMPLETE, pos
        return buf[nxt:nxt + n], nxt + n + 2
    if kind in (b"*", b"%", b">"):
        n = int(rest)
        if n < 0:
            return None, nxt
        if kind == b"%":
            n *= 2
        items = []
        for _ in range(n):
            item, nxt = parse(buf, nxt)
            if item is INCOMPLETE:
                return INCOMPLETE, pos
            items.append(item)
        return items, nxt
    raise Failure(f"unexpected reply {buf[pos:pos + 80]!r}")


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    """A blocking RESP connection for setup, checks and loading."""

    def __init__(self, port, timeout=60):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.pos = 0

    def read(self):
        while True:
            value, nxt = parse(self.buf, self.pos)
            if value is not INCOMPLETE:
                self.pos = nxt
                if self.pos > 1 << 20:
                    self.buf, self.pos = self.buf[self.pos:], 0
                return value
            chunk = self.s.recv(1 << 20)
            if not chunk:
                raise OSError("server closed the connection")
            self.buf = self.buf[self.pos:] + chunk
            self.pos = 0

    def call(self, *args, check=True):
        self.s.sendall(encode(args))
        reply = self.read()
        if check and isinstance(reply, RespError):
            die(f"{' '.join(map(str, args))[:60]}: {reply}")
        return reply

    def pipeline(self, commands, window=100):
        """Sends commands in pipelined windows; fails on the first error reply."""
        batch = []
        for c in commands:
            batch.append(encode(c))
            if len(batch) >= window:
                self._flush(batch)
                batch = []
        if batch:
            self._flush(batch)

    def _flush(self, batch):
        self.s.sendall(b"".join(batch))
        for _ in batch:
            reply = self.read()
            if isinstance(reply, RespError):
                die(f"error reply while loading: {reply}")

    def close(self):
        self.s.close()


def info_field(conn, section, field):
    text = conn.call("INFO", section).decode()
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return None


class Server:
    def __init__(self, kind):
        self.kind = kind
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=kind + ".", dir=WORK)
        self.log = os.path.join(self.dir, "server.log")
        common = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--loglevel", "warning", "--dir", self.dir]
        if kind == "cairn" and not CAIRN_IS_REDIS:
            argv = [CAIRN, "server"] + common + CAIRN_ARGS
        elif kind == "cairn":
            argv = [CAIRN] + common + CAIRN_ARGS
        else:
            argv = ["redis-server"] + common
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=die_with_parent)
        PROCS.append(self.proc)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                die(f"{kind} exited with status {self.proc.returncode} at start:\n{self.log_tail()}")
            try:
                c = Conn(self.port, timeout=2)
                ok = c.call("PING", check=False) == b"PONG"
                c.close()
                if ok:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        die(f"{kind} did not answer PING within 20 s:\n{self.log_tail()}")

    def log_tail(self, lines=15):
        try:
            with open(self.log, errors="replace") as f:
                return "".join("  | " + l for l in f.readlines()[-lines:]) or "  (empty log)"
        except OSError:
            return "  (no log)"

    def alive(self):
        if self.proc.poll() is not None:
            die(f"{self.kind} (pid {self.pid}) exited with status {self.proc.returncode}:\n"
                f"{self.log_tail()}")

    def cpu(self):
        """User + system CPU seconds of the server so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self):
        stop(self.proc)


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def version_of(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5,
                             stdin=subprocess.DEVNULL)
        return (out.stdout.strip() or out.stderr.strip()).splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ----------------------------------------------------------------- 1. throughput --

TESTS = ["lpush", "rpush", "lpop", "rpop", "lrange_100", "lrange_600"]
EXPECTED_LLEN = {"lpush": 1, "rpush": 2, "lpop": 1, "rpop": 0, "lrange_100": 1, "lrange_600": 1}


def bench_cmd(port, pipe, test):
    return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test, "-n", str(N),
            "-c", "50", "-P", str(pipe), "--csv", "-q"]


def run_bench(srv, pipe, test):
    """One redis-benchmark run: ({test line: rps}, server CPU seconds)."""
    srv.alive()
    cmd = bench_cmd(srv.port, pipe, test)
    cpu0 = srv.cpu()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=BENCH_TIMEOUT,
                             stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    except subprocess.TimeoutExpired:
        die(f"{' '.join(cmd)} did not finish within {BENCH_TIMEOUT} s")
    cpu = srv.cpu() - cpu0
    srv.alive()
    if out.returncode != 0:
        die(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    rps = {}
    for line in out.stdout.splitlines():
        parts = line.split('"')
        if len(parts) >= 4 and parts[1] != "test":
            try:
                rps[parts[1]] = float(parts[3])
            except ValueError:
                pass
    main_line = next((t for t in rps if t.split()[0].lower() == test), None)
    if main_line is None:
        die(f"no {test} line in the output of {' '.join(cmd)}:\n{out.stdout}{out.stderr}")
    if out.stderr.strip():
        print(f"  note: redis-benchmark -t {test} on {srv.kind} wrote to stderr: "
              f"{out.stderr.strip()[:200]}", flush=True)
    return rps[main_line], cpu


def throughput(servers):
    print(f"\n== 1. redis-benchmark list tests, {N} requests a run, 50 clients, "
          f"{ROUNDS} ABAB round(s)", flush=True)
    rps, cpu = {}, {}   # (test, pipe, server) -> [values]
    conns = {name: Conn(srv.port) for name, srv in servers.items()}
    for rnd in range(ROUNDS):
        order = ["cairn", "redis"] if rnd % 2 == 0 else ["redis", "cairn"]
        for pipe in (1, 16):
            lpush_cpu = {}
            line = []
            for name in order:
                conns[name].call("FLUSHALL")
            for test in TESTS:
                for name in order:
                    if test.startswith("lrange"):
                        conns[name].call("FLUSHALL")
                    r, c = run_bench(servers[name], pipe, test)
                    llen = conns[name].call("LLEN", "mylist")
                    want = EXPECTED_LLEN[test] * N
                    if int(llen) != want:
                        die(f"{name}: LLEN mylist is {int(llen)} after -t {test} -P {pipe}, "
                            f"expected {want}")
                    if test == "lpush":
                        lpush_cpu[name] = c
                    if test.startswith("lrange"):
                        # the run includes redis-benchmark's prefill, N LPUSH on an empty
                        # list, the same requests as this round's lpush run
                        c = max(0.0, c - lpush_cpu[name])
                    rps.setdefault((test, pipe, name), []).append(r)
                    cpu.setdefault((test, pipe, name), []).append(c * 1e6 / N)
                line.append(f"{test} " + "/".join(f"{rps[(test, pipe, n)][-1]:.0f}"
                                                  for n in ("cairn", "redis")))
            print(f"[round {rnd + 1}/{ROUNDS}] P{pipe:<2} cairn/redis ops/s: " + "  ".join(line),
                  flush=True)
    for c in conns.values():
        c.close()

    print(f"\n{'test':16} {'cairn ops/s':>12} {'redis ops/s':>12} {'cairn/redis':>12}"
          f" {'cairn us/req':>13} {'redis us/req':>13} {'cpu c/r':>8}")
    for pipe in (1, 16):
        for test in TESTS:
            c = statistics.median(rps[(test, pipe, "cairn")])
            r = statistics.median(rps[(test, pipe, "redis")])
            cc = statistics.median(cpu[(test, pipe, "cairn")])
            rc = statistics.median(cpu[(test, pipe, "redis")])
            label = f"{test.upper()} P{pipe}"
            print(f"{label:16} {c:12.0f} {r:12.0f} {ratio(c, r):>12}"
                  f" {cc:13.2f} {rc:13.2f} {ratio(cc, rc):>8}")
            SUMMARY.append((f"{label} ops/s", c, r, "{:.0f}", True))
    print("us/req: the server's CPU time (user + system) per request, median; for LRANGE the "
          "CPU of the prefill\n(the same run's LPUSH figure) is subtracted.")
    print("commands: " + " ".join(bench_cmd("PORT", "PIPE", "TEST")) + ", TEST in "
          + ",".join(TESTS) + "; LLEN mylist checked after each")


def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"


# ---------------------------------------------------------------------- 2. queue --

QUEUE_KEY = b"queue"
BRPOP_CMD = encode([b"BRPOP", QUEUE_KEY, b"1"])


def child_setup():
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent handles Ctrl-C and stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def child_cpu():
    t = os.times()
    return t.user + t.system


def producer_main(port, chan, share_jobs, n_producers):
    child_setup()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        chan.send("ready")
        start_ns, end_ns, rate = chan.recv()
        cpu0 = child_cpu()
        prefix = b"*3\r\n$5\r\nLPUSH\r\n$%d\r\n%s\r\n$%d\r\n" % (len(QUEUE_KEY), QUEUE_KEY,
                                                                  Q_PAYLOAD)
        pad = b"x" * (Q_PAYLOAD - 19) + b"\r\n"
        if rate:
            per_sec = rate / n_producers
            batch = max(1, min(Q_BATCH, round(per_sec / 1000)))   # about one batch a ms
            interval_ns = int(batch * 1e9 / per_sec)
        else:
            batch, interval_ns = Q_BATCH, 0
        pushed = stalls = late_ns = 0
        recv = s.recv
        clock = time.monotonic_ns
        while clock() < start_ns:
            time.sleep(min(0.01, max(0.0, (start_ns - clock()) / 1e9)))
        next_ns = start_ns
        while pushed < share_jobs:
            now = clock()
            if now >= end_ns:
                break
            if interval_ns:
                if now < next_ns:
                    time.sleep((next_ns - now) / 1e9)
                    now = clock()
                    if now >= end_ns:
                        break
                late_ns = max(late_ns, now - next_ns)
                next_ns += interval_ns
            n = min(batch, share_jobs - pushed)
            s.sendall((prefix + b"%019d" % now + pad) * n)
            buf = b""
            while buf.count(b"\n") < n:
                chunk = recv(65536)
                if not chunk:
                    raise OSError("server closed the producer's connection")
                buf += chunk
            if b"-" in buf:
                raise OSError("error reply to LPUSH: "
                              + buf[buf.index(b"-"):].split(b"\r\n")[0].decode(errors="replace"))
            pushed += n
            if not interval_ns and int(buf[buf.rindex(b":", 0, len(buf) - 2) + 1:-2]) > Q_BACKLOG:
                stalls += 1
                time.sleep(0.0005)
        cpu = child_cpu() - cpu0
        s.close()
        chan.send(("producer", pushed, cpu, stalls, late_ns))
    except Exception as e:  # reported to the parent, which fails the run
        chan.send(("error", f"producer: {e!r}"))


def consumer_main(port, chan, n_conns):
    child_setup()
    try:
        socks = {}
        for _ in range(n_conns):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            socks[s.fileno()] = s
        ep = select.epoll()
        for fd in socks:
            ep.register(fd, select.EPOLLIN)
        head = b"*2\r\n$%d\r\n%s\r\n$%d\r\n" % (len(QUEUE_KEY), QUEUE_KEY, Q_PAYLOAD)
        full = len(head) + Q_PAYLOAD + 2
        hl = len(head)
        chan.send("ready")
        start_ns, end_ns, _ = chan.recv()
        cpu0 = child_cpu()
        count_from = start_ns + Q_WARMUP * 1_000_000_000
        hard_end = end_ns + Q_DRAIN_LIMIT * 1_000_000_000
        lat = array.array("q")
        record = lat.append
        popped = nils = in_window = 0
        cpu_window = None
        partial = {}
        clock = time.monotonic_ns
        while clock() < start_ns:
            time.sleep(min(0.01, max(0.0, (start_ns - clock()) / 1e9)))
        for s in socks.values():
            s.send(BRPOP_CMD)
        live = len(socks)
        while live:
            events = ep.poll(0.5)
            now = clock()
            if now >= end_ns and cpu_window is None:
                cpu_window, in_window = child_cpu() - cpu0, popped
            if now > hard_end:
                break
            for fd, _ in events:
                s = socks[fd]
                data = s.recv(65536)
                if not data:
                    raise OSError("server closed a consumer's connection")
                if fd in partial:
                    data = partial.pop(fd) + data
                if len(data) == full and data.startswith(head):
                    got = True
                    ts = int(data[hl:hl + 19])
                else:
                    value, nxt = parse(data)
                    if value is INCOMPLETE:
                        partial[fd] = data
                        continue
                    if nxt != len(data):
                        raise OSError(f"more than one reply to one BRPOP: {data[:80]!r}")
                    if isinstance(value, RespError):
                        raise OSError(f"error reply to BRPOP: {value}")
                    if value is None or value == []:
                        got = False
                    elif isinstance(value, list) and len(value) == 2:
                        got = True
                        ts = int(value[1][:19])
                    else:
                        raise OSError(f"unexpected reply to BRPOP: {data[:80]!r}")
                if got:
                    popped += 1
                    if count_from <= now <= end_ns:
                        record(now - ts)
                else:
                    nils += 1
                # After the end, keep popping until the queue is empty: a connection stops
                # at its first timeout (nil) after the end.
                if now < end_ns or got:
                    s.send(BRPOP_CMD)
                else:
                    ep.unregister(fd)
                    live -= 1
        for s in socks.values():
            s.close()
        if cpu_window is None:
            cpu_window, in_window = child_cpu() - cpu0, popped
        chan.send(("consumer", popped, cpu_window, in_window, live))
        chan.send_bytes(lat.tobytes())
    except Exception as e:
        chan.send(("error", f"consumer: {e!r}"))


def server_state(srv):
    """For an error message: does the server still answer PING from a new connection?"""
    if srv.proc.poll() is not None:
        return f"; the server exited with status {srv.proc.returncode}:\n{srv.log_tail()}"
    try:
        c = Conn(srv.port, timeout=2)
        reply = c.call("PING", check=False)
        c.close()
        return f"; the server still answers PING ({reply!r})"
    except OSError as e:
        return f"; the server no longer answers PING within 2 s ({e!r}): stuck?"


def queue_phase(srv, rate):
    """One phase against one server; returns a dict of figures."""
    srv.alive()
    ctl = Conn(srv.port)
    ctl.call("DEL", QUEUE_KEY)
    mp = multiprocessing.get_context("fork")
    chans = []
    per = [Q_CONSUMERS // Q_CONSUMER_PROCS + (1 if i < Q_CONSUMERS % Q_CONSUMER_PROCS else 0)
           for i in range(Q_CONSUMER_PROCS)]
    share = [Q_MAX_JOBS // Q_PRODUCER_PROCS + (1 if i < Q_MAX_JOBS % Q_PRODUCER_PROCS else 0)
             for i in range(Q_PRODUCER_PROCS)]
    specs = [(consumer_main, (srv.port, None, n)) for n in per] + \
            [(producer_main, (srv.port, None, j, Q_PRODUCER_PROCS)) for j in share]
    procs = []
    try:
        for fn, args in specs:
            parent_end, child_end = mp.Pipe()
            p = mp.Process(target=fn, args=(args[0], child_end) + args[2:], daemon=True)
            p.start()
            CHILDREN.append(p)
            procs.append(p)
            child_end.close()
            chans.append(parent_end)
        for ch in chans:
            if not ch.poll(30):
                die(f"{srv.kind}: a queue client did not connect within 30 s"
                    f"{server_state(srv)}")
            msg = ch.recv()
            if msg != "ready":
                die(f"{srv.kind}: queue client failed: "
                    f"{msg[1] if isinstance(msg, tuple) else msg}{server_state(srv)}")
        start_ns = time.monotonic_ns() + 200_000_000
        end_ns = start_ns + Q_SECONDS * 1_000_000_000
        for ch in chans:
            ch.send((start_ns, end_ns, rate))
        # The server's CPU over [start, end], the window the clients' CPU is taken over.
        time.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9))
        cpu0 = srv.cpu()
        time.sleep(max(0.0, (end_ns - time.monotonic_ns()) / 1e9))
        server_cpu = srv.cpu() - cpu0
        results = []
        deadline = time.monotonic() + 0.2 + Q_SECONDS + Q_DRAIN_LIMIT + 15
        for ch in chans:
            if not ch.poll(max(0.0, deadline - time.monotonic())):
                die(f"{srv.kind}: a queue client did not finish in time{server_state(srv)}")
            msg = ch.recv()
            if msg[0] == "error":
                die(f"{srv.kind} ({'paced' if rate else 'max'} phase): {msg[1]}"
                    f"{server_state(srv)}")
            if msg[0] == "consumer":
                lat = array.array("q")
                lat.frombytes(ch.recv_bytes())
                msg = msg + (lat,)
            results.append(msg)
        for p in procs:
            p.join(10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
            if p in CHILDREN:
                CHILDREN.remove(p)
        for ch in chans:
            ch.close()
    try:
        left = int(ctl.call("LLEN", QUEUE_KEY))
        ctl.call("DEL", QUEUE_KEY)
    except OSError as e:
        die(f"{srv.kind}: LLEN after the {'paced' if rate else 'max'} phase: {e!r}"
            f"{server_state(srv)}")
    ctl.close()
    srv.alive()
    prods = [r for r in results if r[0] == "producer"]
    cons = [r for r in results if r[0] == "consumer"]
    pushed = sum(r[1] for r in prods)
    popped = sum(r[1] for r in cons)
    in_window = sum(r[3] for r in cons)   # pops in [start, end], warm-up included
    lat = sorted(x for r in cons for x in r[5])
    if not lat:
        die(f"{srv.kind}: no job popped in the measured window")
    window = Q_SECONDS - Q_WARMUP
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1e6   # ms
    return {
        "jobs_s": len(lat) / window,
        "push_s": pushed / Q_SECONDS,
        "p50": pick(0.50), "p99": pick(0.99), "max": lat[-1] / 1e6,
        "pushed": pushed, "popped": popped, "left": left,
        "unfinished": sum(r[4] for r in cons),
        "server_us": server_cpu * 1e6 / max(1, in_window),
        "prod_us": sum(r[2] for r in prods) * 1e6 / max(1, in_window),
        "cons_us": sum(r[2] for r in cons) * 1e6 / max(1, in_window),
        "client_cores": sum(r[2] for r in results) / Q_SECONDS,
        "server_cores": server_cpu / Q_SECONDS,
        "busiest_client": max(r[2] for r in results) / Q_SECONDS,
        "stalls": sum(r[3] for r in prods),
        "late_ms": max(r[4] for r in prods) / 1e6,
    }


def queue(servers):
    print(f"\n== 2. Job queue: {Q_CONSUMERS} connections looping BRPOP queue 1 "
          f"({Q_CONSUMER_PROCS} process(es), epoll), {Q_PRODUCER_PROCS} producer process(es) "
          f"pipelining LPUSH queue <{Q_PAYLOAD} B>;\n   {Q_SECONDS} s a phase, first "
          f"{Q_WARMUP} s not counted, {Q_ROUNDS} ABAB round(s)", flush=True)
    rate = Q_RATE
    res = {}   # (phase, server) -> [dict]
    for rnd in range(Q_ROUNDS):
        order = ["cairn", "redis"] if rnd % 2 == 0 else ["redis", "cairn"]
        phases = ["max", "paced"]
        for phase in phases:
            if phase == "paced" and rate == 0:
                rate = int(0.5 * min(res[("max", n)][0]["jobs_s"] for n in order))
                print(f"   paced phase rate: {rate} jobs/s (half the lower max jobs/s of "
                      f"round 1; QUEUE_RATE sets it)", flush=True)
            for name in order:
                r = queue_phase(servers[name], rate if phase == "paced" else 0)
                res.setdefault((phase, name), []).append(r)
                lost = r["pushed"] - r["popped"] - r["left"]
                flag = ""
                if lost or r["left"] or r["unfinished"]:
                    flag = (f"  WRONG: pushed {r['pushed']} popped {r['popped']} left in list "
                            f"{r['left']}, {r['unfinished']} connection(s) still waiting")
                print(f"[round {rnd + 1}/{Q_ROUNDS}] {phase:5} {name:5} jobs/s {r['jobs_s']:9.0f}"
                      f" (pushed/s {r['push_s']:9.0f})  p50 {r['p50']:8.3f} ms  p99 "
                      f"{r['p99']:8.3f} ms  server {r['server_us']:5.2f} us/job  client "
                      f"{r['prod_us'] + r['cons_us']:5.2f} us/job, {r['client_cores']:.2f} "
                      f"cores{flag}", flush=True)
                if flag:
                    die(f"{name}: the queue lost or kept jobs ({phase} phase)")
                if r["busiest_client"] > 0.9:
                    print(f"   warning: a client process used {r['busiest_client']:.2f} of a "
                          "core: the client, not the server, may be the limit here", flush=True)
                if phase == "paced" and r["push_s"] < 0.95 * rate:
                    print(f"   warning: producers reached {r['push_s']:.0f} of {rate} jobs/s "
                          f"(the client machine could not keep the pace)", flush=True)

    med = lambda phase, name, key: statistics.median(x[key] for x in res[(phase, name)])
    print(f"\n{'phase':18} {'server':6} {'jobs/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
          f" {'srv us/job':>10} {'cli us/job':>10} {'prod':>6} {'cons':>6} {'cli cores':>9}"
          f" {'srv cores':>9}")
    for phase in ("max", "paced"):
        label = "max" if phase == "max" else f"paced {rate}/s"
        for name in ("cairn", "redis"):
            g = lambda k: med(phase, name, k)
            print(f"{label:18} {name:6} {g('jobs_s'):9.0f} {g('p50'):8.3f} {g('p99'):8.3f}"
                  f" {g('max'):8.2f} {g('server_us'):10.2f}"
                  f" {g('prod_us') + g('cons_us'):10.2f} {g('prod_us'):6.2f} {g('cons_us'):6.2f}"
                  f" {g('client_cores'):9.2f} {g('server_cores'):9.2f}")
        c = lambda k: med(phase, "cairn", k)
        r = lambda k: med(phase, "redis", k)
        print(f"{label:18} {'c/r':6} {ratio(c('jobs_s'), r('jobs_s')):>9}"
              f" {ratio(c('p50'), r('p50')):>8} {ratio(c('p99'), r('p99')):>8}"
              f" {ratio(c('max'), r('max')):>8} {ratio(c('server_us'), r('server_us')):>10}")
        if phase == "max":
            SUMMARY.append(("queue max jobs/s", c("jobs_s"), r("jobs_s"), "{:.0f}", True))
            SUMMARY.append(("queue max p99 ms (backlog)", c("p99"), r("p99"), "{:.2f}", False))
        else:
            SUMMARY.append((f"queue paced {rate}/s p50 ms", c("p50"), r("p50"), "{:.3f}", False))
            SUMMARY.append((f"queue paced {rate}/s p99 ms", c("p99"), r("p99"), "{:.3f}", False))
        SUMMARY.append((f"queue {phase} server us/job", c("server_us"), r("server_us"),
                        "{:.2f}", False))
    print("latency: pop time - push time in the payload (CLOCK_MONOTONIC), medians over rounds "
          "of each run's percentile.\nmax: its latency is the backlog (QUEUE_BACKLOG="
          f"{Q_BACKLOG}) waiting; paced: a fixed rate, the same for both servers.\n"
          "srv/cli us/job: CPU (user + system) per popped job of the server and of the client "
          "processes (prod: producers, cons: consumers), over the phase;\ncores: CPU time / phase time. Both "
          "servers face the identical client on the same cores.")


# --------------------------------------------------------------------- 3. memory --

def memory():
    print(f"\n== 3. One list of {MEM_ELEMENTS} elements of 16 bytes (elem:%011d), RPUSH 100 a "
          f"command, fresh server each", flush=True)
    print(f"{'server':8} {'used_memory B/elem':>19} {'RSS B/elem':>11} {'fill s':>7}"
          f" {'elements/s':>11}  encoding")
    row = {}
    for name in ("cairn", "redis"):
        srv = Server(name)
        try:
            c = Conn(srv.port)
            time.sleep(0.3)
            used0, rss0 = int(info_field(c, "memory", "used_memory")), srv.rss()

            def commands():
                for at in range(0, MEM_ELEMENTS, 100):
                    yield [b"RPUSH", b"biglist"] + [b"elem:%011d" % i
                                                    for i in range(at, min(at + 100, MEM_ELEMENTS))]
            t = time.monotonic()
            c.pipeline(commands(), window=100)
            took = time.monotonic() - t
            time.sleep(0.5)
            used1, rss1 = int(info_field(c, "memory", "used_memory")), srv.rss()
            llen = int(c.call("LLEN", "biglist"))
            first = c.call("LRANGE", "biglist", 0, 0)
            last = c.call("LRANGE", "biglist", -1, -1)
            if (llen != MEM_ELEMENTS or first != [b"elem:%011d" % 0]
                    or last != [b"elem:%011d" % (MEM_ELEMENTS - 1)]):
                die(f"{name}: list holds {llen} elements, first {first!r}, last {last!r}")
            enc = c.call("OBJECT", "ENCODING", "biglist", check=False)
            enc = enc.decode() if isinstance(enc, bytes) else "?"
            c.close()
        finally:
            srv.stop()
        row[name] = ((used1 - used0) / MEM_ELEMENTS, (rss1 - rss0) / MEM_ELEMENTS)
        print(f"{name:8} {row[name][0]:19.1f} {row[name][1]:11.1f} {took:7.2f}"
              f" {MEM_ELEMENTS / took:11.0f}  {enc}", flush=True)
    print(f"{'c/r':8} {ratio(row['cairn'][0], row['redis'][0]):>19}"
          f" {ratio(row['cairn'][1], row['redis'][1]):>11}")
    SUMMARY.append(("list 16 B elems used_memory B/el", row["cairn"][0], row["redis"][0],
                    "{:.1f}", False))
    SUMMARY.append(("list 16 B elems RSS B/elem", row["cairn"][1], row["redis"][1],
                    "{:.1f}", False))


# ------------------------------------------------------------------------- main --

def preflight(srv):
    c = Conn(srv.port)
    reply = c.call("RPUSH", "__lists_probe", "a", check=False)
    if isinstance(reply, RespError):
        die(f"{CAIRN} answers RPUSH with '{reply}': it has no lists yet. Rebuild it "
            "(cargo build --release -p cairn), or dry-run the script with "
            "CAIRN_BIN=$(command -v redis-server)")
    c.call("DEL", "__lists_probe")
    c.close()


def summary():
    print("\n== Summary (medians; cairn/redis above 1.00 is better for ops/s and jobs/s, "
          "below 1.00 for ms, us and bytes)")
    print(f"{'':34} {'cairn':>12} {'redis':>12} {'cairn/redis':>12}")
    for label, c, r, fmt, _ in SUMMARY:
        print(f"{label:34} {fmt.format(c):>12} {fmt.format(r):>12} {ratio(c, r):>12}")


def main():
    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    for tool in ("redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            print(f"error: {tool} not found (apt-get install redis-server redis-tools)",
                  file=sys.stderr)
            return 1
    try:
        if not os.path.exists(CAIRN):
            print("==> cargo build --release -p cairn", flush=True)
            subprocess.run(["cargo", "build", "--release", "-p", "cairn"], cwd=ROOT, check=True)
        print("== Cairn vs Redis: lists")
        print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
              f"cpus: {os.cpu_count()}, loadavg: {loadavg()}")
        cairn_version = version_of([CAIRN, "--version"])
        print(f"cairn: {CAIRN} ({cairn_version}){' ' + ' '.join(CAIRN_ARGS) if CAIRN_ARGS else ''}")
        print(f"redis: {version_of(['redis-server', '--version'])}; "
              f"{version_of(['redis-benchmark', '--version'])}")
        if CAIRN_IS_REDIS:
            print("NOTE: CAIRN_BIN is a redis-server: both sides are redis-server, a dry run "
                  "of the script, not a comparison")
        need_servers = os.environ.get("SKIP_THROUGHPUT") != "1" or \
            os.environ.get("SKIP_QUEUE") != "1"
        servers = {}
        if need_servers:
            servers = {k: Server(k) for k in ("cairn", "redis")}
            preflight(servers["cairn"])
            if os.environ.get("SKIP_THROUGHPUT") != "1":
                throughput(servers)
            if os.environ.get("SKIP_QUEUE") != "1":
                queue(servers)
            for s in servers.values():
                s.stop()
        if os.environ.get("SKIP_MEMORY") != "1":
            if not need_servers:
                probe = Server("cairn")
                preflight(probe)
                probe.stop()
            memory()
        summary()
        print(f"loadavg at the end: {loadavg()}")
        return 0
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:   # a server that closed a connection or stopped answering
        print(f"error: {e!r}", file=sys.stderr)
        return 1
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
