#!/usr/bin/env python3
"""bench/zsets.py — sorted sets, Cairn against redis-server, in one run.

1. Throughput (ops/s, medians of BENCH_ROUNDS ABAB rounds, cairn/redis, and the server's CPU
   per request), each line one redis-benchmark run:
     redis-benchmark -h 127.0.0.1 -p PORT -c 50 -n N -P {1,16} --csv -q -t TEST -r ZADD_RANGE
   for TEST in zadd, zpopmin (in that order, one invocation each, as `-t zadd,zpopmin` runs
   them): zadd sends `ZADD myzset <rand> element:<rand>`, zpopmin `ZPOPMIN myzset`. -r is
   needed: without it every ZADD adds the one member `element:__rand_int__` and all but one
   ZPOPMIN find the set empty. myzset is deleted before zadd; ZCARD myzset is checked after it
   (N minus the few random collisions, about N^2 / (2 ZADD_RANGE)); the set is then topped up
   to exactly N members (`pad:<i>` members, score 1e15) so that N ZPOPMIN have something to
   pop, and ZCARD must be 0 after zpopmin: an empty pop cannot pass for a fast one.
   Then two reads on ONE sorted set `big` of BIG_MEMBERS members `m:%012d` with score i,
   filled before the reads with pipelined ZADD of 1000 pairs a command:
     redis-benchmark ... -r BIG_MEMBERS ZRANK big m:__rand_int__
     redis-benchmark ... -r BIG_MEMBERS ZRANGEBYSCORE big __rand_int__ +inf LIMIT 0 10
   (redis-benchmark writes __rand_int__ as a 12-digit zero-padded number below BIG_MEMBERS,
   so every ZRANK names a member). Before timing, one ZRANK must answer i for m:<i> and one
   ZRANGEBYSCORE (start written zero-padded, as redis-benchmark sends it) the 10 members from
   m:<i>. The two servers alternate test by test; odd rounds run Cairn first.
2. A sliding-window rate limiter. Each request is one transaction
     MULTI / ZADD rl:<user> <now_us> <now_us>-<seq> / ZREMRANGEBYSCORE rl:<user> 0
     <now_us - window_us> / ZCARD rl:<user> / EXEC
   for a user picked at random among LIMITER_USERS (1000), window LIMITER_WINDOW_MS (1000 ms);
   <now_us> is the client's wall clock in microseconds, <seq> a per-run counter, so every
   member is new. LIMITER_PROCS (2) client processes each drive LIMITER_CONNS (25) connections
   with epoll. P1: one transaction in flight per connection; P16: 16 transactions sent in one
   write, the next 16 once all 16 replies are in (as redis-benchmark -P does). A phase is
   LIMITER_WARMUP (1) + LIMITER_SECONDS (8) seconds, at most LIMITER_MAX_TX transactions, into
   a server emptied with FLUSHALL; only transactions completed after the warm-up count.
   Every EXEC reply must be an array of 3 integers, ZADD's 1 (a new member) and ZCARD >= 1.
   Reported: transactions/s, the server's CPU (utime + stime from /proc/PID/stat over the
   counted seconds) per transaction, the mean ZCARD (window size: a faster server keeps more
   entries per user), and the client processes' CPU.
3. Memory, into a fresh server each: (a) MEM_SETS (100,000) sorted sets `zs:%06d` of 10
   members `member:0`..`member:9` with integer scores 0..9 (one ZADD a set), (b) one sorted set
   `big` of MEM_BIG_MEMBERS (BIG_MEMBERS) members `m:%012d` with score i (1000 pairs a ZADD),
   both sent in pipelined windows; (used_memory after - before) / members and (VmRSS after -
   before) / members.

Each server runs with its defaults, persistence off (--save '' --appendonly no), on an
ephemeral 127.0.0.1 port. Every process the script starts (servers, redis-benchmark, the
limiter's client processes) is stopped when it exits, also on failure, Ctrl-C or SIGTERM (and
on SIGKILL of the script through PR_SET_PDEATHSIG). A summary table ends the output.
The servers, the RESP client, the client processes and that cleanup are bench/harness.py's,
shared with bench/lists.py.

  CAIRN_BIN=target/release/cairn python3 bench/zsets.py          # about 3 minutes on 2 cores
  BENCH_N=20000 BIG_MEMBERS=100000 BENCH_ROUNDS=1 LIMITER_SECONDS=3 python3 bench/zsets.py
  CAIRN_BIN=$(command -v redis-server) python3 bench/zsets.py    # dry run: redis on both sides

Settings: BENCH_N (200000), BENCH_ROUNDS (3), BENCH_TIMEOUT (seconds per redis-benchmark run,
180), CAIRN_BIN (default target/release/cairn, built if missing; a path whose name starts with
redis-server runs that binary with redis-server's arguments on the "cairn" side), CAIRN_ARGS,
ZADD_RANGE (-r of the zadd test, 1000000000), BIG_MEMBERS (1000000), LIMITER_ROUNDS
(BENCH_ROUNDS), LIMITER_USERS (1000), LIMITER_WINDOW_MS (1000), LIMITER_PROCS (2),
LIMITER_CONNS (25 per process), LIMITER_SECONDS (8), LIMITER_WARMUP (1), LIMITER_MAX_TX
(transactions per phase, 20000000), MEM_SETS (100000), MEM_BIG_MEMBERS (BIG_MEMBERS),
SKIP_THROUGHPUT=1, SKIP_LIMITER=1, SKIP_MEMORY=1.
"""

import os
import random
import re
import select
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (INCOMPLETE, Clients, Conn, child_cpu, child_setup,  # noqa: E402
                     client_socket, die, encode, env_int, parse, ratio, run_bench,
                     server_state, sleep_until)
import harness  # noqa: E402

N = env_int("BENCH_N", 200000)
ROUNDS = env_int("BENCH_ROUNDS", 3)
BENCH_TIMEOUT = env_int("BENCH_TIMEOUT", 180)

ZADD_RANGE = env_int("ZADD_RANGE", 1_000_000_000)
BIG_MEMBERS = env_int("BIG_MEMBERS", 1_000_000, minimum=20)
L_ROUNDS = env_int("LIMITER_ROUNDS", ROUNDS)
L_USERS = env_int("LIMITER_USERS", 1000)
L_WINDOW_MS = env_int("LIMITER_WINDOW_MS", 1000)
L_PROCS = env_int("LIMITER_PROCS", 2)
L_CONNS = env_int("LIMITER_CONNS", 25)
L_SECONDS = env_int("LIMITER_SECONDS", 8)
L_WARMUP = env_int("LIMITER_WARMUP", 1, minimum=0)
L_MAX_TX = env_int("LIMITER_MAX_TX", 20_000_000)
L_DRAIN_LIMIT = 10  # seconds after a phase for the last replies to come in
MEM_SETS = env_int("MEM_SETS", 100_000)
MEM_BIG = env_int("MEM_BIG_MEMBERS", BIG_MEMBERS, minimum=1000)

if ZADD_RANGE > 2**31 - 1:
    print("error: ZADD_RANGE must fit redis-benchmark's int (< 2^31)", file=sys.stderr)
    sys.exit(2)

harness.setup("zsets", conn_timeout=120)
SUMMARY = []    # (label, cairn, redis, fmt)


def zadd_commands(key, first, last, per_command=1000):
    """Encoded ZADD key i m:%012d(i) ... for i in [first, last), per_command pairs each."""
    head_key = b"$%d\r\n%s\r\n" % (len(key), key)
    for at in range(first, last, per_command):
        upto = min(at + per_command, last)
        parts = [b"*%d\r\n$4\r\nZADD\r\n" % (2 + 2 * (upto - at)), head_key]
        for i in range(at, upto):
            s = b"%d" % i
            parts.append(b"$%d\r\n%s\r\n$14\r\nm:%012d\r\n" % (len(s), s, i))
        yield b"".join(parts)


def fill_big(conn, key, members):
    t = time.monotonic()
    conn.pipeline(zadd_commands(key, 0, members), window=20)
    took = time.monotonic() - t
    card = int(conn.call("ZCARD", key))
    if card != members:
        die(f"ZCARD {key.decode()} is {card} after loading {members} members")
    return took


# ----------------------------------------------------------------- 1. throughput --

TESTS = ["zadd", "zpopmin", "zrank", "zrangebyscore"]


def bench_args(test):
    if test in ("zadd", "zpopmin"):
        return ["-t", test, "-r", str(ZADD_RANGE)]
    if test == "zrank":
        return ["-r", str(BIG_MEMBERS), "ZRANK", "big", "m:__rand_int__"]
    return ["-r", str(BIG_MEMBERS), "ZRANGEBYSCORE", "big", "__rand_int__", "+inf",
            "LIMIT", "0", "10"]


def bench_cmd(port, pipe, test):
    return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50", "-n", str(N),
            "-P", str(pipe), "--csv", "-q"] + bench_args(test)


def run_zsets_bench(srv, pipe, test):
    """One redis-benchmark run: (ops/s, server CPU seconds)."""
    return run_bench(srv, bench_cmd(srv.port, pipe, test), test, BENCH_TIMEOUT)


def check_big(name, conn):
    """One reply of each read load must name real members, as redis-benchmark will send it."""
    i = random.randrange(BIG_MEMBERS - 10)
    rank = conn.call("ZRANK", "big", b"m:%012d" % i)
    if rank is None or int(rank) != i:
        die(f"{name}: ZRANK big m:{i:012d} answered {rank!r}, expected {i}")
    got = conn.call("ZRANGEBYSCORE", "big", b"%012d" % i, "+inf", "LIMIT", "0", "10")
    want = [b"m:%012d" % j for j in range(i, i + 10)]
    if got != want:
        die(f"{name}: ZRANGEBYSCORE big {i:012d} +inf LIMIT 0 10 answered {got!r:.200}")


def throughput(servers):
    print(f"\n== 1. redis-benchmark, {N} requests a run, 50 clients, {ROUNDS} ABAB round(s)",
          flush=True)
    conns = {name: Conn(srv.port) for name, srv in servers.items()}
    for name, c in conns.items():
        c.call("FLUSHALL")
        took = fill_big(c, b"big", BIG_MEMBERS)
        check_big(name, c)
        enc = c.call("OBJECT", "ENCODING", "big", check=False)
        print(f"   {name}: filled big with {BIG_MEMBERS} members in {took:.2f} s "
              f"({BIG_MEMBERS / took:.0f} members/s), encoding {enc!r}", flush=True)
    rps, cpu = {}, {}   # (test, pipe, server) -> [values]
    dups = {}
    for rnd in range(ROUNDS):
        order = ["cairn", "redis"] if rnd % 2 == 0 else ["redis", "cairn"]
        for pipe in (1, 16):
            for name in order:
                conns[name].call("DEL", "myzset")
            for test in TESTS:
                for name in order:
                    c = conns[name]
                    r, used = run_zsets_bench(servers[name], pipe, test)
                    if test == "zadd":
                        card = int(c.call("ZCARD", "myzset"))
                        missing = N - card
                        # random members collide about N^2 / (2 ZADD_RANGE) times
                        allowed = max(20, 10 * N * N // (2 * ZADD_RANGE))
                        if card > N or missing > allowed:
                            die(f"{name}: ZCARD myzset is {card} after {N} ZADD of random "
                                f"members (-r {ZADD_RANGE}), expected {N} minus about "
                                f"{N * N // (2 * ZADD_RANGE)} collisions")
                        dups.setdefault(name, []).append(missing)
                        if missing:
                            c.pipeline([encode([b"ZADD", b"myzset", b"1e15", b"pad:%d" % k])
                                        for k in range(missing)])
                        card = int(c.call("ZCARD", "myzset"))
                        if card != N:
                            die(f"{name}: ZCARD myzset is {card} after topping up to {N}")
                    elif test == "zpopmin":
                        card = int(c.call("ZCARD", "myzset"))
                        if card != 0:
                            die(f"{name}: ZCARD myzset is {card} after {N} ZPOPMIN on a set "
                                f"of {N}: some pops found nothing (or popped twice)")
                    else:
                        card = int(c.call("ZCARD", "big"))
                        if card != BIG_MEMBERS:
                            die(f"{name}: ZCARD big is {card} after {test}")
                    rps.setdefault((test, pipe, name), []).append(r)
                    cpu.setdefault((test, pipe, name), []).append(used * 1e6 / N)
            harness.print_round(rnd, ROUNDS, pipe, TESTS, rps)
    for c in conns.values():
        c.call("FLUSHALL")
        c.close()

    for label, c, r, cc, rc in harness.throughput_table(rps, cpu, TESTS, 18):
        SUMMARY.append((f"{label} ops/s", c, r, "{:.0f}"))
        SUMMARY.append((f"{label} server us/req", cc, rc, "{:.2f}"))
    print("us/req: the server's CPU time (user + system) per request, median.")
    print(f"collisions of the random ZADD members (topped up before zpopmin): cairn "
          f"{dups.get('cairn')}, redis {dups.get('redis')}")
    for test in TESTS:
        print("command: " + " ".join(bench_cmd("PORT", "{1,16}", test)))


# -------------------------------------------------------------------- 2. limiter --

MULTI = encode([b"MULTI"])
EXEC = encode([b"EXEC"])
TX_RE = re.compile(rb"\+OK\r\n\+QUEUED\r\n\+QUEUED\r\n\+QUEUED\r\n"
                   rb"\*3\r\n:(-?\d+)\r\n:(-?\d+)\r\n:(-?\d+)\r\n")


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def check_tx_generic(buf, pos):
    """The regex did not match at pos: INCOMPLETE, or an error message describing the replies."""
    replies = []
    at = pos
    for _ in range(5):
        value, at = parse(buf, at)
        if value is INCOMPLETE:
            return INCOMPLETE
        replies.append(value)
    return f"unexpected replies to MULTI/ZADD/ZREMRANGEBYSCORE/ZCARD/EXEC: {replies!r:.300}"


def limiter_main(port, chan, index, pipe, max_tx):
    child_setup()
    try:
        rng = random.Random(os.getpid() * 1_000_003 + time.time_ns())
        keys = [bulk(b"rl:%d" % u) for u in range(L_USERS)]
        window_us = L_WINDOW_MS * 1000
        socks = {}
        for _ in range(L_CONNS):
            s = client_socket(port)
            s.settimeout(None)   # blocking: we recv only after EPOLLIN, send small batches
            socks[s.fileno()] = s
        ep = select.epoll()
        for fd in socks:
            ep.register(fd, select.EPOLLIN)
        bufs = {fd: b"" for fd in socks}
        pending = {fd: 0 for fd in socks}
        chan.send("ready")
        start_ns, end_ns = chan.recv()
        count_from = start_ns + L_WARMUP * 1_000_000_000
        hard_end = end_ns + L_DRAIN_LIMIT * 1_000_000_000
        clock = time.monotonic_ns
        seq = index
        sent = done = in_window = zcard_sum = 0
        cpu_from = cpu_window = None
        randrange = rng.randrange
        zadd_head = b"*4\r\n$4\r\nZADD\r\n"
        zrem_head = b"*4\r\n$16\r\nZREMRANGEBYSCORE\r\n"
        zcard_head = b"*2\r\n$5\r\nZCARD\r\n"
        zero = b"$1\r\n0\r\n"

        def send_batch(fd):
            nonlocal seq, sent
            k = min(pipe, max_tx - sent)
            if k <= 0:
                return False
            now_us = time.time_ns() // 1000
            score = bulk(b"%d" % now_us)
            cutoff = bulk(b"%d" % (now_us - window_us))
            parts = []
            for _ in range(k):
                key = keys[randrange(L_USERS)]
                parts.append(MULTI + zadd_head + key + score + bulk(b"%d-%d" % (now_us, seq))
                             + zrem_head + key + zero + cutoff
                             + zcard_head + key + EXEC)
                seq += L_PROCS
            socks[fd].sendall(b"".join(parts))
            pending[fd] = k
            sent += k
            return True

        sleep_until(start_ns)
        cpu0 = child_cpu()
        live = 0
        for fd in socks:
            if send_batch(fd):
                live += 1
            else:
                ep.unregister(fd)
        match = TX_RE.match
        while live:
            events = ep.poll(0.5)
            now = clock()
            if cpu_from is None and now >= count_from:
                cpu_from, done_from = child_cpu(), done
            if cpu_window is None and now >= end_ns:
                cpu_window = child_cpu() - (cpu_from if cpu_from is not None else cpu0)
            if now > hard_end:
                break
            counting = count_from <= now <= end_ns
            for fd, _ in events:
                data = socks[fd].recv(262144)
                if not data:
                    raise OSError("server closed a limiter connection")
                buf = bufs[fd] + data if bufs[fd] else data
                pos = 0
                while pending[fd]:
                    m = match(buf, pos)
                    if m is None:
                        why = check_tx_generic(buf, pos)
                        if why is INCOMPLETE:
                            break
                        raise OSError(why)
                    added, _removed, card = m.groups()
                    card = int(card)
                    if added != b"1" or card < 1:
                        raise OSError(f"EXEC answered ZADD {added!r} ZCARD {card}: expected "
                                      "ZADD 1 (a new member) and ZCARD >= 1")
                    pos = m.end()
                    pending[fd] -= 1
                    done += 1
                    if counting:
                        in_window += 1
                        zcard_sum += card
                if pending[fd]:
                    bufs[fd] = buf[pos:]
                    continue
                if pos != len(buf):
                    raise OSError(f"more replies than transactions sent: {buf[pos:pos + 80]!r}")
                bufs[fd] = b""
                if now >= end_ns or not send_batch(fd):
                    ep.unregister(fd)
                    live -= 1
        if cpu_window is None:
            cpu_window = child_cpu() - (cpu_from if cpu_from is not None else cpu0)
        for s in socks.values():
            s.close()
        chan.send(("done", sent, done, in_window, zcard_sum, cpu_window, live))
    except Exception as e:  # reported to the parent, which fails the run
        chan.send(("error", f"limiter client {index}: {e!r}"))


def limiter_phase(srv, pipe):
    srv.alive()
    ctl = Conn(srv.port)
    ctl.call("FLUSHALL")
    share = [L_MAX_TX // L_PROCS + (1 if i < L_MAX_TX % L_PROCS else 0) for i in range(L_PROCS)]
    with Clients(srv, "limiter client") as clients:
        for i in range(L_PROCS):
            clients.start(limiter_main, i, pipe, share[i])
        clients.wait_ready()
        start_ns = time.monotonic_ns() + 200_000_000
        end_ns = start_ns + (L_WARMUP + L_SECONDS) * 1_000_000_000
        count_from = start_ns + L_WARMUP * 1_000_000_000
        for ch in clients.chans:
            ch.send((start_ns, end_ns))
        time.sleep(max(0.0, (count_from - time.monotonic_ns()) / 1e9))
        cpu0 = srv.cpu()
        time.sleep(max(0.0, (end_ns - time.monotonic_ns()) / 1e9))
        server_cpu = srv.cpu() - cpu0
        results = []
        deadline = time.monotonic() + L_DRAIN_LIMIT + 15
        for ch in clients.chans:
            if not ch.poll(max(0.0, deadline - time.monotonic())):
                die(f"{srv.kind}: a limiter client did not finish in time{server_state(srv)}")
            msg = ch.recv()
            if msg[0] == "error":
                die(f"{srv.kind} (limiter P{pipe}): {msg[1]}{server_state(srv)}")
            results.append(msg)
        for p in clients.procs:
            p.join(10)
    sent = sum(r[1] for r in results)
    done = sum(r[2] for r in results)
    in_window = sum(r[3] for r in results)
    unfinished = sum(r[6] for r in results)
    if unfinished or done != sent:
        die(f"{srv.kind} (limiter P{pipe}): {sent} transactions sent, {done} answered, "
            f"{unfinished} connection(s) still waiting{server_state(srv)}")
    if not in_window:
        die(f"{srv.kind} (limiter P{pipe}): no transaction completed in the counted window")
    keys = int(ctl.call("DBSIZE"))
    if not 0 < keys <= L_USERS:
        die(f"{srv.kind} (limiter P{pipe}): DBSIZE {keys}, expected 1..{L_USERS}")
    ctl.call("FLUSHALL")
    ctl.close()
    srv.alive()
    return {
        "tx_s": in_window / L_SECONDS,
        "server_us": server_cpu * 1e6 / in_window,
        "server_cores": server_cpu / L_SECONDS,
        "client_us": sum(r[5] for r in results) * 1e6 / in_window,
        "client_cores": sum(r[5] for r in results) / L_SECONDS,
        "busiest_client": max(r[5] for r in results) / L_SECONDS,
        "zcard": sum(r[4] for r in results) / in_window,
        "total": done,
    }


def limiter(servers):
    print(f"\n== 2. Sliding-window rate limiter: MULTI/ZADD/ZREMRANGEBYSCORE/ZCARD/EXEC on "
          f"rl:<user>, {L_USERS} users, window {L_WINDOW_MS} ms;\n   {L_PROCS} client "
          f"process(es) x {L_CONNS} connections (epoll), {L_WARMUP} s warm-up + {L_SECONDS} s "
          f"counted a phase, {L_ROUNDS} ABAB round(s)", flush=True)
    res = {}   # (pipe, server) -> [dict]
    for rnd in range(L_ROUNDS):
        order = ["cairn", "redis"] if rnd % 2 == 0 else ["redis", "cairn"]
        for pipe in (1, 16):
            for name in order:
                r = limiter_phase(servers[name], pipe)
                res.setdefault((pipe, name), []).append(r)
                print(f"[round {rnd + 1}/{L_ROUNDS}] P{pipe:<2} {name:5} tx/s {r['tx_s']:9.0f}"
                      f"  server {r['server_us']:6.2f} us/tx ({r['server_cores']:.2f} cores)"
                      f"  client {r['client_us']:6.2f} us/tx ({r['client_cores']:.2f} cores)"
                      f"  mean ZCARD {r['zcard']:7.1f}", flush=True)
                if r["busiest_client"] > 0.9:
                    print(f"   note: a client process used {r['busiest_client']:.2f} of a core: "
                          "the client, not the server, may be the limit here", flush=True)

    med = lambda pipe, name, key: statistics.median(x[key] for x in res[(pipe, name)])
    print(f"\n{'load':14} {'cairn tx/s':>11} {'redis tx/s':>11} {'c/r':>6} {'cairn us/tx':>12}"
          f" {'redis us/tx':>12} {'c/r':>6} {'ZCARD c/r':>14} {'client cores c/r':>17}")
    for pipe in (1, 16):
        c = lambda k: med(pipe, "cairn", k)
        r = lambda k: med(pipe, "redis", k)
        label = f"limiter P{pipe}"
        print(f"{label:14} {c('tx_s'):11.0f} {r('tx_s'):11.0f} {ratio(c('tx_s'), r('tx_s')):>6}"
              f" {c('server_us'):12.2f} {r('server_us'):12.2f}"
              f" {ratio(c('server_us'), r('server_us')):>6}"
              f" {c('zcard'):6.1f}/{r('zcard'):<7.1f} {c('client_cores'):8.2f}/"
              f"{r('client_cores'):<8.2f}")
        SUMMARY.append((f"{label} tx/s", c("tx_s"), r("tx_s"), "{:.0f}"))
        SUMMARY.append((f"{label} server us/tx", c("server_us"), r("server_us"), "{:.2f}"))
    print("us/tx: the server's CPU (user + system, /proc/PID/stat) over the counted seconds per "
          "transaction counted;\nZCARD: the mean ZCARD reply, the entries a user's window "
          "holds (it grows with tx/s); client cores: the client processes' CPU / counted "
          "seconds.\nBoth servers face the identical client on the same cores.")


# --------------------------------------------------------------------- 3. memory --

def small_sets():
    pairs = b"".join(b"$1\r\n%d\r\n$8\r\nmember:%d\r\n" % (j, j) for j in range(10))
    for s in range(MEM_SETS):
        yield b"*22\r\n$4\r\nZADD\r\n" + bulk(b"zs:%06d" % s) + pairs


def memory():
    shapes = [
        (f"{MEM_SETS} zsets x 10 members", f"{MEM_SETS} sorted sets zs:%06d of 10 members "
         "member:0..9, scores 0..9, one ZADD a set", MEM_SETS * 10, "zs:000000"),
        (f"1 zset x {MEM_BIG} members", f"one sorted set of {MEM_BIG} members m:%012d, "
         "score i, 1000 pairs a ZADD", MEM_BIG, "big"),
    ]
    print(f"\n== 3. Memory per member, a fresh server for each shape and server", flush=True)
    for label, desc, members, key in shapes:
        print(f"-- {desc}")
        print(f"{'server':8} {'used_memory B/member':>21} {'RSS B/member':>13} {'fill s':>7}"
              f" {'members/s':>10}  encoding")
        row = {}
        for name in ("cairn", "redis"):

            def fill(c):
                if key == "big":
                    c.pipeline(zadd_commands(b"big", 0, MEM_BIG), window=20)
                else:
                    c.pipeline(small_sets(), window=200)

            def check(c):
                if key == "big":
                    card = int(c.call("ZCARD", "big"))
                    ok = card == MEM_BIG
                    what = f"ZCARD big {card}"
                else:
                    keys = int(c.call("DBSIZE"))
                    last = c.call("ZRANGE", f"zs:{MEM_SETS - 1:06d}", 0, -1, "WITHSCORES")
                    want = [x for j in range(10) for x in (b"member:%d" % j, b"%d" % j)]
                    ok = keys == MEM_SETS and last == want
                    what = f"DBSIZE {keys}, last set {last!r:.120}"
                if not ok:
                    die(f"{name}: after loading, {what}")
            used, rss, took, enc = harness.measure_fill(name, fill, check, key)
            row[name] = (used / members, rss / members)
            print(f"{name:8} {row[name][0]:21.1f} {row[name][1]:13.1f} {took:7.2f}"
                  f" {members / took:10.0f}  {enc}", flush=True)
        print(f"{'c/r':8} {ratio(row['cairn'][0], row['redis'][0]):>21}"
              f" {ratio(row['cairn'][1], row['redis'][1]):>13}")
        SUMMARY.append((f"{label} used_memory B/m", row["cairn"][0], row["redis"][0], "{:.1f}"))
        SUMMARY.append((f"{label} RSS B/member", row["cairn"][1], row["redis"][1], "{:.1f}"))


# ------------------------------------------------------------------------- main --

def summary():
    harness.print_summary(SUMMARY, 38, "ops/s and tx/s", "us and bytes")


def main():
    return harness.run("sorted sets", ["ZADD", "__zsets_probe", "1", "a"], "sorted sets",
                       [("SKIP_THROUGHPUT", throughput), ("SKIP_LIMITER", limiter)],
                       memory, summary, show_took=True)


if __name__ == "__main__":
    sys.exit(main())
