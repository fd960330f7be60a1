#!/usr/bin/env python3
"""bench/streams.py — streams, Cairn against redis-server, in one run.

1. XADD throughput (ops/s, medians of BENCH_ROUNDS ABAB rounds, cairn/redis, and the server's
   CPU per request). redis-benchmark 7.0 has no `-t xadd`, so each line is one run of an
   explicit command:
     redis-benchmark -h 127.0.0.1 -p PORT -c 50 -n N -P {1,16} --csv -q XADD s '*' f1 v1 f2 v2 f3 v3
     redis-benchmark ... -r XADD_KEYS XADD stream:__rand_int__ '*' f1 v1 f2 v2 f3 v3
   xadd appends N entries to one stream `s` (deleted before the run; XLEN s must be N after
   it, or up to 50 * (P - 1) more at -P P when N is not a multiple of 50 * P, since a client's
   last pipeline may go past -n). xadd_keys spreads them over XADD_KEYS (100,000) random keys, so the streams stay small
   (about 86,000 streams of 2.3 entries on average at the defaults) and many XADD create one
   (FLUSHALL before; after it, SCAN MATCH stream:* and the XLEN of every stream must add up
   to N). The two servers alternate test by test; odd rounds run Cairn
   first.
2. A consumer group. STREAM_CONSUMERS (20) client processes, one connection each, consumers
   c0..c19 of group g on stream s (XGROUP CREATE s g $ MKSTREAM before each phase), loop
     XREADGROUP GROUP g cN COUNT STREAM_COUNT BLOCK STREAM_BLOCK_MS STREAMS s >
     XACK s g <the ids it got>
   (one round trip each, as a plain client library does). STREAM_PRODUCERS (2) processes
   pipeline `XADD s * ts <send time> data <STREAM_PAYLOAD bytes>` in batches of STREAM_BATCH;
   the send time is CLOCK_MONOTONIC in ns (time.monotonic_ns, shared by all processes), and
   an entry's add-to-ack latency is the time its XACK reply came back minus that. A phase
   lasts STREAM_SECONDS (5), the first STREAM_WARMUP (1) not counted:
     max    producers add as fast as they can, but wait 0.5 ms whenever more than
            STREAM_BACKLOG (2000) entries are added and not yet acked (counted in a shared
            array the client processes write), so the stream never runs dry and the
            backlog never grows without bound. Acked/s is the group's capacity; the latency
            is mostly the backlog waiting (about STREAM_BACKLOG / acked/s).
     paced  producers add at a fixed total rate, the same for both servers: STREAM_RATE, or
            by default a quarter of the lower max acked/s of round 1 (at half, the 22
            client processes alone kept 2 cores busy and their scheduling showed in the
            latency). Here the latency is what an entry waits when the group keeps up.
   After the phase, the consumers drain the stream and stop at their first empty
   XREADGROUP (the BLOCK timeout); then every entry added must have been delivered and acked
   exactly once: sum of XACK replies = entries delivered = entries added = XLEN s, and
   XPENDING s g counts 0. Reported: entries acked/s, p50/p99/max latency, the server's CPU
   per acked entry, the client processes' CPU per entry and cores, for both servers facing
   the identical client.
3. Memory: one stream of MEM_ENTRIES (1,000,000) entries `XADD s * a <i> b <word> c <i*7 %
   1000>` (word one of six short words), pipelined in windows of 1000, into a fresh server
   each: (used_memory after - before) / entries and (VmRSS after - before) / entries.

Each server runs with its defaults, persistence off (--save '' --appendonly no), on an
ephemeral 127.0.0.1 port. Every process the script starts (servers, redis-benchmark, the
group's client processes) is stopped when it exits, also on failure, Ctrl-C or SIGTERM (and on
SIGKILL of the script through PR_SET_PDEATHSIG); every client loop is bounded in time. A
summary table ends the output. The servers, the RESP client, the client processes and that
cleanup are bench/harness.py's, shared with bench/lists.py and bench/zsets.py. If the Cairn
binary answers XADD with an error, the script stops before measuring anything.

  CAIRN_BIN=target/release/cairn python3 bench/streams.py        # about 2.5 minutes on 2 cores
  BENCH_N=20000 BENCH_ROUNDS=1 STREAM_SECONDS=3 MEM_ENTRIES=100000 python3 bench/streams.py
  CAIRN_BIN=$(command -v redis-server) python3 bench/streams.py  # dry run: redis on both sides

Settings: BENCH_N (200000), BENCH_ROUNDS (3), BENCH_TIMEOUT (seconds per redis-benchmark run,
180), CAIRN_BIN (default target/release/cairn, built if missing; a path whose name starts with
redis-server runs that binary with redis-server's arguments on the "cairn" side), CAIRN_ARGS,
XADD_KEYS (-r of the xadd_keys test, 100000), STREAM_ROUNDS (BENCH_ROUNDS), STREAM_SECONDS (5),
STREAM_WARMUP (1), STREAM_CONSUMERS (20), STREAM_PRODUCERS (2), STREAM_COUNT (10),
STREAM_BLOCK_MS (1000), STREAM_BATCH (64 XADD a pipelined batch), STREAM_BACKLOG (2000),
STREAM_RATE (0 = derived, as above), STREAM_PAYLOAD (bytes, 32), STREAM_MAX_ENTRIES (adds per
phase, 20000000), MEM_ENTRIES (1000000), SKIP_THROUGHPUT=1, SKIP_GROUP=1, SKIP_MEMORY=1.
"""

import array
import multiprocessing
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Clients, Conn, child_cpu, child_setup, client_socket,  # noqa: E402
                     die, encode, env_int, ratio, run_bench, server_state, sleep_until)
import harness  # noqa: E402

N = env_int("BENCH_N", 200000)
ROUNDS = env_int("BENCH_ROUNDS", 3)
BENCH_TIMEOUT = env_int("BENCH_TIMEOUT", 180)
XADD_KEYS = env_int("XADD_KEYS", 100000)

S_ROUNDS = env_int("STREAM_ROUNDS", ROUNDS)
S_SECONDS = env_int("STREAM_SECONDS", 5)
S_WARMUP = env_int("STREAM_WARMUP", 1, minimum=0)
S_CONSUMERS = env_int("STREAM_CONSUMERS", 20)
S_PRODUCERS = env_int("STREAM_PRODUCERS", 2)
S_COUNT = env_int("STREAM_COUNT", 10)
S_BLOCK_MS = env_int("STREAM_BLOCK_MS", 1000)
S_BATCH = env_int("STREAM_BATCH", 64)
S_BACKLOG = env_int("STREAM_BACKLOG", 2000)
S_RATE = env_int("STREAM_RATE", 0, minimum=0)
S_PAYLOAD = env_int("STREAM_PAYLOAD", 32)
S_MAX_ENTRIES = env_int("STREAM_MAX_ENTRIES", 20_000_000)
S_DRAIN_LIMIT = 15  # seconds after a phase for the consumers to empty the stream
MEM_ENTRIES = env_int("MEM_ENTRIES", 1_000_000, minimum=10)

if S_WARMUP >= S_SECONDS:
    print("error: STREAM_WARMUP must be below STREAM_SECONDS", file=sys.stderr)
    sys.exit(2)
if XADD_KEYS > 2**31 - 1:
    print("error: XADD_KEYS must fit redis-benchmark's int (< 2^31)", file=sys.stderr)
    sys.exit(2)

harness.setup("streams", conn_timeout=120)
SUMMARY = []    # (label, cairn, redis, fmt)


# ----------------------------------------------------------------- 1. throughput --

TESTS = ["xadd", "xadd_keys"]
FIELDS = ["f1", "v1", "f2", "v2", "f3", "v3"]


def bench_args(test):
    if test == "xadd":
        return ["XADD", "s", "*"] + FIELDS
    return ["-r", str(XADD_KEYS), "XADD", "stream:__rand_int__", "*"] + FIELDS


def bench_cmd(port, pipe, test):
    return ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50", "-n", str(N),
            "-P", str(pipe), "--csv", "-q"] + bench_args(test)


def shown_cmd(test):
    return " ".join("'*'" if a == "*" else a for a in bench_cmd("PORT", "{1,16}", test))


def count_entries(conn, pattern):
    """(streams, entries): SCAN MATCH pattern, then the XLEN of each key found, pipelined."""
    keys, cursor = set(), b"0"
    while True:
        cursor, batch = conn.call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        keys.update(batch)
        if cursor == b"0":
            break
    keys = sorted(keys)
    total = 0
    for at in range(0, len(keys), 1000):
        chunk = keys[at:at + 1000]
        conn.s.sendall(b"".join(encode([b"XLEN", k]) for k in chunk))
        for k in chunk:
            n = conn.read()
            if not isinstance(n, bytes):
                die(f"XLEN {k.decode()} answered {n!r}")
            total += int(n)
    return len(keys), total


def throughput(servers):
    print(f"\n== 1. redis-benchmark XADD, {N} requests a run, 50 clients, {ROUNDS} ABAB "
          "round(s)", flush=True)
    rps, cpu = {}, {}   # (test, pipe, server) -> [values]
    streams = {}        # server -> [streams the xadd_keys runs made]
    conns = {name: Conn(srv.port) for name, srv in servers.items()}
    for rnd in range(ROUNDS):
        order = ["cairn", "redis"] if rnd % 2 == 0 else ["redis", "cairn"]
        for pipe in (1, 16):
            for test in TESTS:
                for name in order:
                    c = conns[name]
                    c.call("FLUSHALL")
                    r, used = run_bench(servers[name], bench_cmd(servers[name].port, pipe, test),
                                        "xadd", BENCH_TIMEOUT, f"{test} -P {pipe}")
                    # with -P, a client's last pipeline may go past -n: up to pipe - 1
                    # more requests per client (none when N is a multiple of 50 * pipe)
                    slack = 50 * (pipe - 1)
                    if test == "xadd":
                        xlen = int(c.call("XLEN", "s"))
                        if not N <= xlen <= N + slack:
                            die(f"{name}: XLEN s is {xlen} after {N} XADD s * (-P {pipe})")
                    else:
                        keys, total = count_entries(c, "stream:*")
                        if not N <= total <= N + slack or not 0 < keys <= min(total, XADD_KEYS):
                            die(f"{name}: {keys} streams stream:* holding {total} entries after "
                                f"{N} XADD stream:__rand_int__ * (-r {XADD_KEYS} -P {pipe}), "
                                f"expected {N} entries")
                        streams.setdefault(name, []).append(keys)
                    rps.setdefault((test, pipe, name), []).append(r)
                    cpu.setdefault((test, pipe, name), []).append(used * 1e6 / N)
            harness.print_round(rnd, ROUNDS, pipe, TESTS, rps)
    for c in conns.values():
        c.call("FLUSHALL")
        c.close()

    for label, c, r, cc, rc in harness.throughput_table(rps, cpu, TESTS, 14):
        SUMMARY.append((f"{label} ops/s", c, r, "{:.0f}"))
        SUMMARY.append((f"{label} server us/req", cc, rc, "{:.2f}"))
    print("us/req: the server's CPU time (user + system) per request, median.")
    print(f"streams made by a xadd_keys run (median): cairn "
          f"{statistics.median(streams['cairn']):.0f}, redis "
          f"{statistics.median(streams['redis']):.0f}")
    for test in TESTS:
        print("command: " + shown_cmd(test))


# --------------------------------------------------------------- 2. consumer group --

KEY = b"s"
GROUP = b"g"


def producer_main(port, chan, index, share, counts):
    """Pipelines XADD s * ts <now> data <payload>; counts[index] is its running total."""
    child_setup()
    try:
        s = client_socket(port)
        chan.send("ready")
        start_ns, end_ns, rate = chan.recv()
        prefix = b"*7\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$2\r\nts\r\n$19\r\n"
        suffix = b"\r\n$4\r\ndata\r\n$%d\r\n%s\r\n" % (S_PAYLOAD, b"x" * S_PAYLOAD)
        if rate:
            per_sec = rate / S_PRODUCERS
            batch = max(1, min(S_BATCH, round(per_sec / 1000)))   # about one batch a ms
            interval_ns = int(batch * 1e9 / per_sec)
        else:
            batch, interval_ns = S_BATCH, 0
        added = stalls = late_ns = 0
        recv = s.recv
        clock = time.monotonic_ns
        sleep_until(start_ns)
        cpu0 = child_cpu()
        next_ns = start_ns
        while added < share:
            now = clock()
            if now >= end_ns:
                break
            if sum(counts[:S_PRODUCERS]) - sum(counts[S_PRODUCERS:]) > S_BACKLOG:
                stalls += 1
                time.sleep(0.0005)
                continue
            if interval_ns:
                if now < next_ns:
                    time.sleep((next_ns - now) / 1e9)
                    now = clock()
                    if now >= end_ns:
                        break
                late_ns = max(late_ns, now - next_ns)
                next_ns += interval_ns
            n = min(batch, share - added)
            s.sendall((prefix + b"%019d" % now + suffix) * n)
            buf = b""
            # each reply is a bulk string "$<len>\r\n<id>\r\n"; an id never starts with "-"
            while True:
                chunk = recv(65536)
                if not chunk:
                    raise OSError("server closed a producer's connection")
                buf += chunk
                if buf.startswith(b"-") or b"\r\n-" in buf:
                    at = 0 if buf.startswith(b"-") else buf.index(b"\r\n-") + 2
                    raise OSError("error reply to XADD: "
                                  + buf[at:].split(b"\r\n")[0].decode(errors="replace"))
                if buf.count(b"\r\n") >= 2 * n:
                    break
            added += n
            counts[index] = added
        cpu_window = child_cpu() - cpu0
        s.close()
        chan.send(("producer", added, cpu_window, stalls, late_ns))
    except Exception as e:  # reported to the parent, which fails the run
        chan.send(("error", f"producer {index}: {e!r}"))


def consumer_main(port, chan, index, slot, counts):
    """Loops XREADGROUP ... COUNT BLOCK ... > then XACK; counts[slot] is its acked total."""
    child_setup()
    try:
        conn = Conn(port, timeout=S_BLOCK_MS / 1000 + 30)
        read_cmd = encode([b"XREADGROUP", b"GROUP", GROUP, b"c%d" % index, b"COUNT", S_COUNT,
                           b"BLOCK", S_BLOCK_MS, b"STREAMS", KEY, b">"])
        ack_head = encode([b"XACK", KEY, GROUP])[4:]     # without the "*<n>\r\n"
        chan.send("ready")
        start_ns, end_ns, _rate = chan.recv()
        count_from = start_ns + S_WARMUP * 1_000_000_000
        hard_end = end_ns + S_DRAIN_LIMIT * 1_000_000_000
        lat = array.array("q")
        delivered = acked = nils = reads = 0
        cpu_window = None
        clean = False
        clock = time.monotonic_ns
        sendall, read = conn.s.sendall, conn.read
        sleep_until(start_ns)
        cpu0 = child_cpu()
        while True:
            sendall(read_cmd)
            reply = read()
            now = clock()
            if cpu_window is None and now >= end_ns:
                cpu_window = child_cpu() - cpu0
            if isinstance(reply, harness.RespError):
                raise OSError(f"error reply to XREADGROUP: {reply}")
            if reply is None or reply == []:
                nils += 1
                if now >= end_ns:      # drained: the first empty read after the end
                    clean = True
                    break
                if now > hard_end:
                    break
                continue
            try:
                (key, entries), = reply
                ids = [e[0] for e in entries]
                sent = [int(e[1][1]) for e in entries if e[1][0] == b"ts"]
            except (ValueError, TypeError, IndexError) as e:
                raise OSError(f"unexpected reply to XREADGROUP ({e!r}): {reply!r:.300}")
            if key != KEY or not entries or len(sent) != len(entries) or len(ids) > S_COUNT:
                raise OSError(f"unexpected reply to XREADGROUP: {reply!r:.300}")
            delivered += len(ids)
            reads += 1
            parts = [b"*%d\r\n" % (3 + len(ids)), ack_head]
            parts += [b"$%d\r\n%s\r\n" % (len(i), i) for i in ids]
            sendall(b"".join(parts))
            n = read()
            now = clock()
            if isinstance(n, harness.RespError) or int(n) != len(ids):
                raise OSError(f"XACK of {len(ids)} ids answered {n!r}")
            acked += len(ids)
            counts[slot] = acked
            if count_from <= now <= end_ns:
                for t in sent:
                    lat.append(now - t)
            if now > hard_end:
                break
        if cpu_window is None:
            cpu_window = child_cpu() - cpu0
        conn.close()
        chan.send(("consumer", delivered, cpu_window, acked, reads, clean, nils))
        chan.send_bytes(lat.tobytes())
    except Exception as e:  # reported to the parent, which fails the run
        chan.send(("error", f"consumer c{index}: {e!r}"))


def group_phase(srv, rate):
    """One phase against one server; returns a dict of figures."""
    phase = "paced" if rate else "max"
    srv.alive()
    ctl = Conn(srv.port)
    ctl.call("DEL", KEY)
    ctl.call("XGROUP", "CREATE", KEY, GROUP, "$", "MKSTREAM")
    # slots 0..P-1: entries added by each producer, P..: entries acked by each consumer
    counts = multiprocessing.RawArray("q", S_PRODUCERS + S_CONSUMERS)
    share = [S_MAX_ENTRIES // S_PRODUCERS + (1 if i < S_MAX_ENTRIES % S_PRODUCERS else 0)
             for i in range(S_PRODUCERS)]
    with Clients(srv, "stream client") as clients:
        for i in range(S_CONSUMERS):
            clients.start(consumer_main, i, S_PRODUCERS + i, counts)
        for i in range(S_PRODUCERS):
            clients.start(producer_main, i, share[i], counts)
        clients.wait_ready()
        start_ns = time.monotonic_ns() + 200_000_000
        end_ns = start_ns + S_SECONDS * 1_000_000_000
        count_from = start_ns + S_WARMUP * 1_000_000_000
        for ch in clients.chans:
            ch.send((start_ns, end_ns, rate))
        # the server's CPU over the counted seconds, the window latencies are recorded in
        time.sleep(max(0.0, (count_from - time.monotonic_ns()) / 1e9))
        cpu0 = srv.cpu()
        time.sleep(max(0.0, (end_ns - time.monotonic_ns()) / 1e9))
        server_cpu = srv.cpu() - cpu0
        results = []
        deadline = time.monotonic() + S_DRAIN_LIMIT + S_BLOCK_MS / 1000 + 15
        for ch in clients.chans:
            if not ch.poll(max(0.0, deadline - time.monotonic())):
                die(f"{srv.kind}: a stream client did not finish in time{server_state(srv)}")
            msg = ch.recv()
            if msg[0] == "error":
                die(f"{srv.kind} ({phase} phase): {msg[1]}{server_state(srv)}")
            if msg[0] == "consumer":
                lat = array.array("q")
                lat.frombytes(ch.recv_bytes())
                msg = msg + (lat,)
            results.append(msg)
        for p in clients.procs:
            p.join(10)
    try:
        xlen = int(ctl.call("XLEN", KEY))
        pending = ctl.call("XPENDING", KEY, GROUP)
        ctl.call("DEL", KEY)
    except OSError as e:
        die(f"{srv.kind}: XLEN/XPENDING after the {phase} phase: {e!r}{server_state(srv)}")
    ctl.close()
    srv.alive()
    prods = [r for r in results if r[0] == "producer"]
    cons = [r for r in results if r[0] == "consumer"]
    added = sum(r[1] for r in prods)
    delivered = sum(r[1] for r in cons)
    acked = sum(r[3] for r in cons)
    lat = sorted(x for r in cons for x in r[7])
    try:
        pending = int(pending[0])
    except (TypeError, ValueError, IndexError):
        die(f"{srv.kind}: XPENDING s g answered {pending!r}")
    if not (added == delivered == acked == xlen) or pending or not all(r[5] for r in cons):
        die(f"{srv.kind} ({phase} phase): {added} entries added, {delivered} delivered, {acked} "
            f"acked, XLEN {xlen}, XPENDING {pending}, "
            f"{sum(1 for r in cons if not r[5])} consumer(s) stopped before the stream was empty")
    if not lat:
        die(f"{srv.kind} ({phase} phase): no entry acked in the counted window")
    window = S_SECONDS - S_WARMUP
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1e6   # ms
    client_cpu = sum(r[2] for r in results)
    return {
        "acked_s": len(lat) / window,
        "added_s": added / S_SECONDS,
        "p50": pick(0.50), "p99": pick(0.99), "max": lat[-1] / 1e6,
        "added": added,
        "per_read": delivered / max(1, sum(r[4] for r in cons)),
        "server_us": server_cpu * 1e6 / len(lat),
        "server_cores": server_cpu / window,
        # the clients' CPU is taken over the whole phase, start to end
        "client_us": client_cpu * 1e6 / max(1, added),
        "client_cores": client_cpu / S_SECONDS,
        "busiest_client": max(r[2] for r in results) / S_SECONDS,
        "stalls": sum(r[3] for r in prods),
        "late_ms": max(r[4] for r in prods) / 1e6,
    }


def group(servers):
    print(f"\n== 2. Consumer group: {S_CONSUMERS} consumer processes looping XREADGROUP GROUP g "
          f"cN COUNT {S_COUNT} BLOCK {S_BLOCK_MS} STREAMS s > / XACK;\n   {S_PRODUCERS} producer "
          f"process(es) pipelining XADD s * ts <now> data <{S_PAYLOAD} B> ({S_BATCH} a batch); "
          f"{S_SECONDS} s a phase, first {S_WARMUP} s not counted, {S_ROUNDS} ABAB round(s)",
          flush=True)
    rate = S_RATE
    res = {}   # (phase, server) -> [dict]
    for rnd in range(S_ROUNDS):
        order = ["cairn", "redis"] if rnd % 2 == 0 else ["redis", "cairn"]
        for phase in ("max", "paced"):
            if phase == "paced" and rate == 0:
                rate = max(1, int(0.25 * min(res[("max", n)][0]["acked_s"] for n in order)))
                print(f"   paced phase rate: {rate} entries/s (a quarter of the lower max "
                      f"acked/s of round 1; STREAM_RATE sets it)", flush=True)
            for name in order:
                r = group_phase(servers[name], rate if phase == "paced" else 0)
                res.setdefault((phase, name), []).append(r)
                print(f"[round {rnd + 1}/{S_ROUNDS}] {phase:5} {name:5} acked/s {r['acked_s']:8.0f}"
                      f" (added/s {r['added_s']:8.0f})  p50 {r['p50']:8.3f} ms  p99 "
                      f"{r['p99']:8.3f} ms  {r['per_read']:4.1f} entries/read  server "
                      f"{r['server_us']:5.2f} us/entry ({r['server_cores']:.2f} cores)  client "
                      f"{r['client_us']:6.2f} us/entry ({r['client_cores']:.2f} cores)",
                      flush=True)
                if phase == "paced" and r["added_s"] < 0.95 * rate:
                    print(f"   warning: producers reached {r['added_s']:.0f} of {rate} "
                          f"entries/s ({r['stalls']} waits for a full backlog, up to "
                          f"{r['late_ms']:.1f} ms late): the group or the client machine "
                          "could not keep the pace", flush=True)

    med = lambda phase, name, key: statistics.median(x[key] for x in res[(phase, name)])
    print(f"\n{'phase':18} {'server':6} {'acked/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
          f" {'srv us/e':>9} {'cli us/e':>9} {'e/read':>7} {'srv cores':>9} {'cli cores':>9}")
    for phase in ("max", "paced"):
        label = "max" if phase == "max" else f"paced {rate}/s"
        for name in ("cairn", "redis"):
            g = lambda k: med(phase, name, k)
            print(f"{label:18} {name:6} {g('acked_s'):9.0f} {g('p50'):8.3f} {g('p99'):8.3f}"
                  f" {g('max'):8.2f} {g('server_us'):9.2f} {g('client_us'):9.2f}"
                  f" {g('per_read'):7.1f} {g('server_cores'):9.2f} {g('client_cores'):9.2f}")
        c = lambda k: med(phase, "cairn", k)
        r = lambda k: med(phase, "redis", k)
        print(f"{label:18} {'c/r':6} {ratio(c('acked_s'), r('acked_s')):>9}"
              f" {ratio(c('p50'), r('p50')):>8} {ratio(c('p99'), r('p99')):>8}"
              f" {ratio(c('max'), r('max')):>8} {ratio(c('server_us'), r('server_us')):>9}")
        if phase == "max":
            SUMMARY.append(("group max acked/s", c("acked_s"), r("acked_s"), "{:.0f}"))
            SUMMARY.append(("group max p50 ms (backlog)", c("p50"), r("p50"), "{:.2f}"))
            SUMMARY.append(("group max p99 ms (backlog)", c("p99"), r("p99"), "{:.2f}"))
        else:
            SUMMARY.append((f"group paced {rate}/s acked/s", c("acked_s"), r("acked_s"),
                            "{:.0f}"))
            SUMMARY.append((f"group paced {rate}/s p50 ms", c("p50"), r("p50"), "{:.3f}"))
            SUMMARY.append((f"group paced {rate}/s p99 ms", c("p99"), r("p99"), "{:.3f}"))
        SUMMARY.append((f"group {phase} server us/entry", c("server_us"), r("server_us"),
                        "{:.2f}"))
    print("latency: XACK reply time - the send time in the entry (CLOCK_MONOTONIC), medians over "
          "rounds of each run's percentile.\nmax: its latency is the backlog (STREAM_BACKLOG="
          f"{S_BACKLOG}) waiting; paced: a fixed rate, the same for both servers.\n"
          "srv us/e: the server's CPU (user + system) over the counted seconds per entry acked in "
          "them; cli us/e: the client processes' CPU over\nthe phase per entry added; e/read: "
          "entries per non-empty XREADGROUP; cores: CPU time / time. Both servers face the "
          "identical client\non the same cores; at max the server and the client processes "
          "together keep every core busy, so compare srv us/e first.")


# --------------------------------------------------------------------- 3. memory --

WORDS = [b"view", b"click", b"buy", b"cart", b"login", b"search"]


def mem_commands():
    """Encoded XADD s * a <i> b <word> c <i*7 % 1000>, i in [0, MEM_ENTRIES)."""
    head = b"*9\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\na\r\n"
    words = [b"$1\r\nb\r\n$%d\r\n%s\r\n$1\r\nc\r\n" % (len(w), w) for w in WORDS]
    for i in range(MEM_ENTRIES):
        a = b"%d" % i
        c = b"%d" % (i * 7 % 1000)
        yield (head + b"$%d\r\n%s\r\n" % (len(a), a) + words[i % len(WORDS)]
               + b"$%d\r\n%s\r\n" % (len(c), c))


def mem_entry(i):
    return [b"a", b"%d" % i, b"b", WORDS[i % len(WORDS)], b"c", b"%d" % (i * 7 % 1000)]


def memory():
    print(f"\n== 3. One stream of {MEM_ENTRIES} entries XADD s * a <i> b <word> c <i*7 % 1000>, "
          "pipelined, fresh server each", flush=True)
    print(f"{'server':8} {'used_memory B/entry':>20} {'RSS B/entry':>12} {'fill s':>7}"
          f" {'entries/s':>10}  encoding")
    row = {}
    for name in ("cairn", "redis"):

        def check(c):
            xlen = int(c.call("XLEN", "s"))
            first = c.call("XRANGE", "s", "-", "+", "COUNT", 1)
            last = c.call("XREVRANGE", "s", "+", "-", "COUNT", 1)
            ok = (xlen == MEM_ENTRIES and isinstance(first, list) and len(first) == 1
                  and first[0][1] == mem_entry(0) and isinstance(last, list) and len(last) == 1
                  and last[0][1] == mem_entry(MEM_ENTRIES - 1))
            if not ok:
                die(f"{name}: after loading, XLEN s {xlen}, first {first!r:.120}, "
                    f"last {last!r:.120}")
        used, rss, took, enc = harness.measure_fill(
            name, lambda c: c.pipeline(mem_commands(), window=1000), check, "s")
        row[name] = (used / MEM_ENTRIES, rss / MEM_ENTRIES)
        print(f"{name:8} {row[name][0]:20.1f} {row[name][1]:12.1f} {took:7.2f}"
              f" {MEM_ENTRIES / took:10.0f}  {enc}", flush=True)
    print(f"{'c/r':8} {ratio(row['cairn'][0], row['redis'][0]):>20}"
          f" {ratio(row['cairn'][1], row['redis'][1]):>12}")
    SUMMARY.append((f"stream x {MEM_ENTRIES} used_memory B/entry", row["cairn"][0],
                    row["redis"][0], "{:.1f}"))
    SUMMARY.append((f"stream x {MEM_ENTRIES} RSS B/entry", row["cairn"][1], row["redis"][1],
                    "{:.1f}"))


# ------------------------------------------------------------------------- main --

def summary():
    harness.print_summary(SUMMARY, 38, "ops/s and acked/s", "ms, us and bytes")


def main():
    return harness.run("streams", ["XADD", "__streams_probe", "*", "f", "v"], "streams",
                       [("SKIP_THROUGHPUT", throughput), ("SKIP_GROUP", group)],
                       memory, summary, show_took=True)


if __name__ == "__main__":
    sys.exit(main())
