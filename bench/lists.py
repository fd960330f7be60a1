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
The servers, the RESP client, the client processes and that cleanup are bench/harness.py's,
shared with bench/zsets.py.

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
import os
import select
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (INCOMPLETE, Clients, Conn, RespError, child_cpu,  # noqa: E402
                     child_setup, client_socket, die, encode, env_int, parse,
                     ratio, run_bench, server_state, sleep_until)
import harness  # noqa: E402

N = env_int("BENCH_N", 200000)
ROUNDS = env_int("BENCH_ROUNDS", 3)
BENCH_TIMEOUT = env_int("BENCH_TIMEOUT", 600)

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

harness.setup("lists", conn_timeout=60)
SUMMARY = []    # (label, cairn, redis, fmt, higher_is_better)


# ----------------------------------------------------------------- 1. throughput --

TESTS = ["lpush", "rpush", "lpop", "rpop", "lrange_100", "lrange_600"]
EXPECTED_LLEN = {"lpush": 1, "rpush": 2, "lpop": 1, "rpop": 0, "lrange_100": 1, "lrange_600": 1}


def bench_cmd(port, pipe, test):
    return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test, "-n", str(N),
            "-c", "50", "-P", str(pipe), "--csv", "-q"]


def run_lists_bench(srv, pipe, test):
    """One redis-benchmark run: (ops/s, server CPU seconds)."""
    return run_bench(srv, bench_cmd(srv.port, pipe, test), test, BENCH_TIMEOUT, f"-t {test}")


def throughput(servers):
    print(f"\n== 1. redis-benchmark list tests, {N} requests a run, 50 clients, "
          f"{ROUNDS} ABAB round(s)", flush=True)
    rps, cpu = {}, {}   # (test, pipe, server) -> [values]
    conns = {name: Conn(srv.port) for name, srv in servers.items()}
    for rnd in range(ROUNDS):
        order = ["cairn", "redis"] if rnd % 2 == 0 else ["redis", "cairn"]
        for pipe in (1, 16):
            lpush_cpu = {}
            for name in order:
                conns[name].call("FLUSHALL")
            for test in TESTS:
                for name in order:
                    if test.startswith("lrange"):
                        conns[name].call("FLUSHALL")
                    r, c = run_lists_bench(servers[name], pipe, test)
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
            harness.print_round(rnd, ROUNDS, pipe, TESTS, rps)
    for c in conns.values():
        c.close()

    for label, c, r, _cc, _rc in harness.throughput_table(rps, cpu, TESTS, 16):
        SUMMARY.append((f"{label} ops/s", c, r, "{:.0f}", True))
    print("us/req: the server's CPU time (user + system) per request, median; for LRANGE the "
          "CPU of the prefill\n(the same run's LPUSH figure) is subtracted.")
    print("commands: " + " ".join(bench_cmd("PORT", "PIPE", "TEST")) + ", TEST in "
          + ",".join(TESTS) + "; LLEN mylist checked after each")


# ---------------------------------------------------------------------- 2. queue --

QUEUE_KEY = b"queue"
BRPOP_CMD = encode([b"BRPOP", QUEUE_KEY, b"1"])


def producer_main(port, chan, share_jobs, n_producers):
    child_setup()
    try:
        s = client_socket(port)
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
        sleep_until(start_ns)
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
            s = client_socket(port)
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
        sleep_until(start_ns)
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


def queue_phase(srv, rate):
    """One phase against one server; returns a dict of figures."""
    srv.alive()
    ctl = Conn(srv.port)
    ctl.call("DEL", QUEUE_KEY)
    per = [Q_CONSUMERS // Q_CONSUMER_PROCS + (1 if i < Q_CONSUMERS % Q_CONSUMER_PROCS else 0)
           for i in range(Q_CONSUMER_PROCS)]
    share = [Q_MAX_JOBS // Q_PRODUCER_PROCS + (1 if i < Q_MAX_JOBS % Q_PRODUCER_PROCS else 0)
             for i in range(Q_PRODUCER_PROCS)]
    specs = [(consumer_main, (n,)) for n in per] + \
            [(producer_main, (j, Q_PRODUCER_PROCS)) for j in share]
    with Clients(srv, "queue client") as clients:
        for fn, args in specs:
            clients.start(fn, *args)
        clients.wait_ready()
        start_ns = time.monotonic_ns() + 200_000_000
        end_ns = start_ns + Q_SECONDS * 1_000_000_000
        for ch in clients.chans:
            ch.send((start_ns, end_ns, rate))
        # The server's CPU over [start, end], the window the clients' CPU is taken over.
        time.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9))
        cpu0 = srv.cpu()
        time.sleep(max(0.0, (end_ns - time.monotonic_ns()) / 1e9))
        server_cpu = srv.cpu() - cpu0
        results = []
        deadline = time.monotonic() + 0.2 + Q_SECONDS + Q_DRAIN_LIMIT + 15
        for ch in clients.chans:
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
        for p in clients.procs:
            p.join(10)
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

        def commands():
            for at in range(0, MEM_ELEMENTS, 100):
                upto = min(at + 100, MEM_ELEMENTS)
                yield encode([b"RPUSH", b"biglist"] + [b"elem:%011d" % i for i in range(at, upto)])

        def check(c):
            llen = int(c.call("LLEN", "biglist"))
            first = c.call("LRANGE", "biglist", 0, 0)
            last = c.call("LRANGE", "biglist", -1, -1)
            if (llen != MEM_ELEMENTS or first != [b"elem:%011d" % 0]
                    or last != [b"elem:%011d" % (MEM_ELEMENTS - 1)]):
                die(f"{name}: list holds {llen} elements, first {first!r}, last {last!r}")
        used, rss, took, enc = harness.measure_fill(
            name, lambda c: c.pipeline(commands(), window=100), check, "biglist")
        row[name] = (used / MEM_ELEMENTS, rss / MEM_ELEMENTS)
        print(f"{name:8} {row[name][0]:19.1f} {row[name][1]:11.1f} {took:7.2f}"
              f" {MEM_ELEMENTS / took:11.0f}  {enc}", flush=True)
    print(f"{'c/r':8} {ratio(row['cairn'][0], row['redis'][0]):>19}"
          f" {ratio(row['cairn'][1], row['redis'][1]):>11}")
    SUMMARY.append(("list 16 B elems used_memory B/el", row["cairn"][0], row["redis"][0],
                    "{:.1f}", False))
    SUMMARY.append(("list 16 B elems RSS B/elem", row["cairn"][1], row["redis"][1],
                    "{:.1f}", False))


# ------------------------------------------------------------------------- main --

def summary():
    harness.print_summary(SUMMARY, 34, "ops/s and jobs/s", "ms, us and bytes")


def main():
    return harness.run("lists", ["RPUSH", "__lists_probe", "a"], "lists",
                       [("SKIP_THROUGHPUT", throughput), ("SKIP_QUEUE", queue)], memory, summary)


if __name__ == "__main__":
    sys.exit(main())
