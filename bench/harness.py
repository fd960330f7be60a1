"""bench/harness.py — what the Cairn-against-redis-server scripts (bench/lists.py,
bench/zsets.py) share: standard library only, Linux (/proc, prctl).

- Settings: env_int (an integer environment variable, or exit 2), CAIRN / CAIRN_ARGS /
  CAIRN_IS_REDIS (from CAIRN_BIN and CAIRN_ARGS: the binary on the "cairn" side; one whose
  name starts with redis-server runs with redis-server's arguments, a dry run).
- Failure and die(msg): a failed run (run() prints "error: msg" and exits 1).
- Processes: die_with_parent (PR_SET_PDEATHSIG, so a child gets SIGKILL when the script
  dies, even by SIGKILL), Server (cairn or redis-server on an ephemeral 127.0.0.1 port,
  persistence off, in a directory of its own under the run's scratch directory; waits for
  PING; cpu(), rss(), alive(), stop()), stop(popen), measure_fill (a fresh server's
  used_memory and RSS growth over a fill), server_state (for error messages),
  Clients (the forked client processes of one phase, with a pipe each), child_setup,
  child_cpu, client_socket and sleep_until (in such a child), cleanup() (stops every client
  process and server started, removes the scratch directory).
- RESP: encode(args), parse(buf, pos) (RESP2/RESP3, INCOMPLETE while a reply is partial,
  RespError for error replies), Conn (a blocking connection: call, pipeline of encoded
  commands, read), info_field.
- Running: run_bench (one redis-benchmark run and the server's CPU over it), print_round
  and throughput_table (its figures), ratio, version_of, loadavg, print_summary, preflight
  (does Cairn have the commands measured?), and run(): a script's main() (signals, tool
  checks, the header, the sections on one pair of servers, the memory section, the
  summary, and cleanup on exit, failure, Ctrl-C or SIGTERM).

A script is run as `python3 bench/NAME.py` from the repo root, so bench/ is its own
directory; it imports this module with

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness
    from harness import Conn, Server, die, ...

and calls harness.setup(NAME, conn_timeout) once at start (the scratch directory
cairn-NAME.* under the temp dir, and Conn's default timeout). Importing this module starts
nothing.
"""

import ctypes
import multiprocessing
import os
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

CAIRN = os.path.abspath(os.environ.get("CAIRN_BIN") or os.path.join(ROOT, "target/release/cairn"))
if os.environ.get("CAIRN_BIN") and os.sep not in os.environ["CAIRN_BIN"]:
    CAIRN = shutil.which(os.environ["CAIRN_BIN"]) or CAIRN  # a bare name: look it up in PATH
CAIRN_ARGS = shlex.split(os.environ.get("CAIRN_ARGS", ""))
CAIRN_IS_REDIS = os.path.basename(CAIRN).startswith("redis-server")

WORK = None          # the run's scratch directory, made by setup()
CONN_TIMEOUT = 60    # Conn's default socket timeout, set by setup()
PROCS = []      # servers: subprocess.Popen
CHILDREN = []   # client processes: multiprocessing.Process
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1


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


def setup(name, conn_timeout):
    """Once per script, before any server starts: the scratch directory (under which each
    server gets its own) and the default timeout of Conn (seconds)."""
    global WORK, CONN_TIMEOUT
    WORK = tempfile.mkdtemp(prefix=f"cairn-{name}.")
    CONN_TIMEOUT = conn_timeout


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
    for p in list(PROCS):
        stop(p)
    if WORK is not None:
        shutil.rmtree(WORK, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------ RESP --

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
    """A blocking RESP connection for setup, checks and loading (timeout: setup()'s
    conn_timeout unless given)."""

    def __init__(self, port, timeout=None):
        self.s = socket.create_connection(("127.0.0.1", port),
                                          timeout=CONN_TIMEOUT if timeout is None else timeout)
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
        """Sends encoded commands in pipelined windows; fails on the first error reply."""
        batch = []
        for c in commands:
            batch.append(c)
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


# --------------------------------------------------------------------- servers --

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
        """User + system CPU seconds of the server (all its threads) so far."""
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


def measure_fill(kind, fill, check, key):
    """Into a fresh server of kind: fill(conn), timed, then check(conn) (which dies if the
    data is wrong); returns (used_memory growth in bytes, VmRSS growth in bytes, the fill's
    seconds, OBJECT ENCODING of key or "?"). The figures are taken 0.3 s after the connection
    is made and 0.5 s after the fill ends; the server is stopped before returning."""
    srv = Server(kind)
    try:
        c = Conn(srv.port)
        time.sleep(0.3)
        used0, rss0 = int(info_field(c, "memory", "used_memory")), srv.rss()
        t = time.monotonic()
        fill(c)
        took = time.monotonic() - t
        time.sleep(0.5)
        used1, rss1 = int(info_field(c, "memory", "used_memory")), srv.rss()
        check(c)
        enc = c.call("OBJECT", "ENCODING", key, check=False)
        enc = enc.decode() if isinstance(enc, bytes) else "?"
        c.close()
    finally:
        srv.stop()
    return used1 - used0, rss1 - rss0, took, enc


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


# -------------------------------------------------------------- client processes --

class Clients:
    """The client processes of one phase against srv (a with block): start(fn, *args) forks
    one running fn(srv.port, chan, *args), listed in CHILDREN for cleanup(); chan is its end
    of a pipe, chans the parent's ends, in start order. Each child first sends "ready" (or
    ("error", text)), which wait_ready() waits for. Leaving the block stops the children
    still running and closes the parent's ends."""

    def __init__(self, srv, what):
        self.srv, self.what = srv, what   # what: "queue client", for error messages
        self.mp = multiprocessing.get_context("fork")
        self.procs, self.chans = [], []

    def start(self, fn, *args):
        parent_end, child_end = self.mp.Pipe()
        p = self.mp.Process(target=fn, args=(self.srv.port, child_end) + args, daemon=True)
        p.start()
        CHILDREN.append(p)
        self.procs.append(p)
        child_end.close()
        self.chans.append(parent_end)

    def wait_ready(self):
        srv = self.srv
        for ch in self.chans:
            if not ch.poll(30):
                die(f"{srv.kind}: a {self.what} did not connect within 30 s{server_state(srv)}")
            msg = ch.recv()
            if msg != "ready":
                die(f"{srv.kind}: {self.what} failed: "
                    f"{msg[1] if isinstance(msg, tuple) else msg}{server_state(srv)}")

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
            if p in CHILDREN:
                CHILDREN.remove(p)
        for ch in self.chans:
            ch.close()
        return False


def child_setup():
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # the parent handles Ctrl-C and stops us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def child_cpu():
    t = os.times()
    return t.user + t.system


def client_socket(port):
    """In a client process: a TCP_NODELAY connection to the server."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def sleep_until(ns):
    """Sleeps until time.monotonic_ns() reaches ns, in steps of at most 10 ms."""
    clock = time.monotonic_ns
    while clock() < ns:
        time.sleep(min(0.01, max(0.0, (ns - clock()) / 1e9)))


# --------------------------------------------------------------------- running --

def run_bench(srv, cmd, test, timeout, shown=None):
    """One redis-benchmark run (cmd) against srv: (ops/s of its `test` line, server CPU
    seconds). shown: how a stderr note names the run (default: test)."""
    srv.alive()
    cpu0 = srv.cpu()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    except subprocess.TimeoutExpired:
        die(f"{' '.join(cmd)} did not finish within {timeout} s")
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
        print(f"  note: redis-benchmark {shown or test} on {srv.kind} wrote to stderr: "
              f"{out.stderr.strip()[:200]}", flush=True)
    return rps[main_line], cpu


def print_round(rnd, rounds, pipe, tests, rps):
    """The line after a round's tests at one pipeline depth: the last ops/s of each test,
    cairn/redis. rps: (test, pipe, server) -> [ops/s]."""
    line = [f"{test} " + "/".join(f"{rps[(test, pipe, n)][-1]:.0f}" for n in ("cairn", "redis"))
            for test in tests]
    print(f"[round {rnd + 1}/{rounds}] P{pipe:<2} cairn/redis ops/s: " + "  ".join(line),
          flush=True)


def throughput_table(rps, cpu, tests, width):
    """After a blank line, prints the medians of ops/s (rps) and of the server's us/req (cpu)
    by test and pipeline depth, P1 then P16, the first column width wide; returns those rows
    as (label, cairn ops/s, redis ops/s, cairn us/req, redis us/req), in that order."""
    print(f"\n{'test':{width}} {'cairn ops/s':>12} {'redis ops/s':>12} {'cairn/redis':>12}"
          f" {'cairn us/req':>13} {'redis us/req':>13} {'cpu c/r':>8}")
    rows = []
    for pipe in (1, 16):
        for test in tests:
            c = statistics.median(rps[(test, pipe, "cairn")])
            r = statistics.median(rps[(test, pipe, "redis")])
            cc = statistics.median(cpu[(test, pipe, "cairn")])
            rc = statistics.median(cpu[(test, pipe, "redis")])
            label = f"{test.upper()} P{pipe}"
            print(f"{label:{width}} {c:12.0f} {r:12.0f} {ratio(c, r):>12}"
                  f" {cc:13.2f} {rc:13.2f} {ratio(cc, rc):>8}")
            rows.append((label, c, r, cc, rc))
    return rows


def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"


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


def print_summary(rows, width, higher, lower):
    """The closing table: rows of (label, cairn, redis, fmt, ...); higher and lower name
    the units where cairn/redis above and below 1.00 is better."""
    print(f"\n== Summary (medians; cairn/redis above 1.00 is better for {higher}, "
          f"below 1.00 for {lower})")
    print(f"{'':{width}} {'cairn':>12} {'redis':>12} {'cairn/redis':>12}")
    for label, c, r, fmt, *_ in rows:
        print(f"{label:{width}} {fmt.format(c):>12} {fmt.format(r):>12} {ratio(c, r):>12}")


def preflight(srv, probe, what):
    """Fails the run, with advice, if srv answers the probe command (whose key is deleted
    after) with an error: a Cairn built before it had `what`."""
    c = Conn(srv.port)
    reply = c.call(*probe, check=False)
    if isinstance(reply, RespError):
        die(f"{CAIRN} answers {probe[0]} with '{reply}': it has no {what} yet. Rebuild it "
            "(cargo build --release -p cairn), or dry-run the script with "
            "CAIRN_BIN=$(command -v redis-server)")
    c.call("DEL", probe[1])
    c.close()


def run(title, probe, what, sections, memory, summary, show_took=False):
    """A script's main(); returns its exit status. Builds Cairn if CAIRN is missing, prints
    the header, starts one cairn and one redis-server (checked by preflight(probe, what))
    for sections, a list of (SKIP_ variable, function(servers)) run in order unless the
    variable is 1, then memory() unless SKIP_MEMORY=1 (it starts servers of its own), then
    summary(). Every process started is stopped at the end, also on failure, Ctrl-C or
    SIGTERM. show_took: the last line also gives the run's seconds."""
    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    for tool in ("redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            print(f"error: {tool} not found (apt-get install redis-server redis-tools)",
                  file=sys.stderr)
            return 1
    t0 = time.monotonic()
    try:
        if not os.path.exists(CAIRN):
            print("==> cargo build --release -p cairn", flush=True)
            subprocess.run(["cargo", "build", "--release", "-p", "cairn"], cwd=ROOT, check=True)
        print(f"== Cairn vs Redis: {title}")
        print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, "
              f"cpus: {os.cpu_count()}, loadavg: {loadavg()}")
        cairn_version = version_of([CAIRN, "--version"])
        print(f"cairn: {CAIRN} ({cairn_version}){' ' + ' '.join(CAIRN_ARGS) if CAIRN_ARGS else ''}")
        print(f"redis: {version_of(['redis-server', '--version'])}; "
              f"{version_of(['redis-benchmark', '--version'])}")
        if CAIRN_IS_REDIS:
            print("NOTE: CAIRN_BIN is a redis-server: both sides are redis-server, a dry run "
                  "of the script, not a comparison")
        need_servers = any(os.environ.get(skip) != "1" for skip, _ in sections)
        if need_servers:
            servers = {k: Server(k) for k in ("cairn", "redis")}
            preflight(servers["cairn"], probe, what)
            for skip, section in sections:
                if os.environ.get(skip) != "1":
                    section(servers)
            for s in servers.values():
                s.stop()
        if os.environ.get("SKIP_MEMORY") != "1":
            if not need_servers:
                probe_srv = Server("cairn")
                preflight(probe_srv, probe, what)
                probe_srv.stop()
            memory()
        summary()
        took = f"; took {time.monotonic() - t0:.0f} s" if show_took else ""
        print(f"loadavg at the end: {loadavg()}{took}")
        return 0
    except Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:   # a server that closed a connection or stopped answering
        print(f"error: {e!r}", file=sys.stderr)
        return 1
    finally:
        cleanup()
