#!/usr/bin/env bash
# bench/cluster.sh — cluster mode, Cairn vs Redis Cluster: failover time seen by a client,
# resharding rate (with and without a client load, and that load's latency), and the
# throughput of a 3-primary cluster.
#
# Two clusters of 6 nodes (3 primaries, 1 replica each) run side by side on 127.0.0.1, each
# node in its own directory with persistence off; the client ports are BASE..BASE+5 and the
# cluster bus ports BASE+10000..BASE+10005, BASE picked (from 22001 up, CLUSTER_BASE_PORT)
# so that all twelve are free:
#
#   cairn server --cluster-enabled yes --port P --bind 127.0.0.1 --dir D --save ""
#                --appendonly no --repl-diskless-sync-delay 0 [CAIRN_ARGS]
#       (the command `cairn cluster start` runs, plus the last two settings), then
#   cairn cluster create 127.0.0.1:P1 ... 127.0.0.1:P6 --replicas 1 --yes
#
#   redis-server --port P --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file
#                nodes-P.conf --dir D --save "" --appendonly no --daemonize no
#                --repl-diskless-sync-delay 0 --cluster-node-timeout T, then
#   redis-cli --cluster create 127.0.0.1:P1 ... 127.0.0.1:P6 --cluster-replicas 1 --cluster-yes
#
# The script starts the nodes itself (rather than `cairn cluster start`) to hold their pids:
# it kills one with SIGKILL and restarts it on the same port and directory. A full sync
# waits 0 s on both (Cairn's default is 1 s, Redis's 5 s), so a restarted node is back in
# sync quickly; the failover itself does not depend on it. Cairn's node timeout is its
# default, 800 ms. Redis runs with its default, 15000 ms, except in the failover part's
# `redis-800` variant (CONFIG SET cluster-node-timeout 800 on every node, Cairn's value).
#
#   failover  A python3 client (redis-py RedisCluster, its own retries off, topology refresh
#             allowed every 20 ms instead of its default 1 s) connects through another node,
#             writes 100 keys in the victim primary's slots and WAITs for its replica, then
#             SETs keys in those slots in a loop, SIGKILLs the primary (os.kill, so the clock
#             starts at the kill) and goes on; every error is retried after 5 ms. Measured:
#             from the kill to the first OK of a SET on a key of the dead primary's slots
#             answered by another node (the client finds the new primary by itself). Then
#             it reads the 100 WAIT-confirmed keys back: each must hold its value (else
#             BROKEN: acknowledged, replicated writes lost). Also reported: how many of the
#             last 100 writes acknowledged before the kill (not waited for) were lost, the
#             asynchronous-replication window. The killed node is then restarted on its
#             port and directory, and the next trial waits until the cluster is healthy
#             again (every node: PING, cluster_state:ok, 16384 slots ok, 6 known nodes, no
#             fail/pfail flag, the same members, roles and slots as every other node, 3
#             primaries with 1 synced replica each, Cairn also cairn_fenced:0), timed as
#             "rejoin". Victims rotate over the slot ranges 0-5460, 5461-10922, 10923-16383
#             (the primary owning the range now). Cairn's trials also note whether the
#             victim was the Raft leader (cairn_raft_leader). Variants, interleaved:
#               cairn        TRIALS trials (default 10)
#               redis-800    TRIALS trials, cluster-node-timeout 800
#               redis        REDIS_DEFAULT_TRIALS trials (default 3), cluster-node-timeout
#                            15000 (about 17 s each)
#
#   reshard   RESHARD_KEYS keys (default 200000) with VALUE_SIZE-byte values (default 100),
#             spread evenly over slots 0..RESHARD_SLOTS-1 (default 1000; key
#             `{tag}:%06d`, tag a string hashing to the slot), loaded with redis-cli --pipe
#             into the primary owning slot 0 (call it A; B owns slot 16383). Each round and
#             server: (1) move the RESHARD_SLOTS slots A -> B with no other load, (2) move
#             them back B -> A under a client load. The tools (both move the lowest-numbered
#             slots of the source, MIGRATE batches of 10 keys, their default):
#               cairn cluster reshard 127.0.0.1:P --from A --to B --slots N
#               redis-cli --cluster reshard 127.0.0.1:P --cluster-from A --cluster-to B
#                         --cluster-slots N --cluster-yes
#             Timed: the tool's run, start to exit (both check the cluster first; Cairn's
#             also waits at the end until every node has learnt the new owners). Reported:
#             keys/s, MB/s (keys + values), slots/s. A cross-check (RESHARD_CROSS=1) moves
#             the Redis cluster's slots there and back with `cairn cluster reshard` too, no
#             load, as `redis/cairn-tool`: the same tool on both servers. The load: LOAD_CLIENTS python3
#             processes (default 4), each a redis-py RedisCluster client, together
#             LOAD_RATE requests/s (default 2000; paced, not saturating), 50% SET 50% GET
#             of random preloaded keys (so every request is on a slot being moved or just
#             moved; the clients follow MOVED and ASK). It runs LOAD_WARM s (default 3)
#             before the reshard starts: the latencies before ("idle") and during the
#             reshard are reported apart: p50, p99, p99.9, max, errors the application saw
#             (after redis-py's own retries), and GETs of a preloaded key answered nil
#             ("missing": a key the cluster lost sight of). Checked after every move: the
#             destination owns slots 0..N-1 in every node's CLUSTER SLOTS, holds all
#             RESHARD_KEYS keys in them (COUNTKEYSINSLOT), and the source none (else BROKEN).
#
#   throughput  redis-benchmark --cluster -h 127.0.0.1 -p P1 -t set,get -n BENCH_N
#                               -r 1000000 -c 50 -P PIPE --csv
#             PIPE 1 and 16 (BENCH_PIPES), FLUSHALL on each primary before each run, ROUNDS
#             rounds. Reported: median ops/s, cairn/redis, p99 latency (redis-benchmark's),
#             and the CPU time of the 6 nodes together per request (user + system from
#             /proc/PID/stat).
#
#   Rounds alternate: odd rounds (and failover trials) run Cairn first, even ones Redis
#   first. After each reshard and throughput run the script compares the set of primaries
#   with the one before: a failover nobody asked for (a node judged dead under load) is
#   reported as "unexpected failover". If a failover never completes (FAILOVER_LIMIT s), a
#   confirmed write is lost, the cluster is not healthy again within HEALTH_TIMEOUT s, a
#   reshard tool fails or keys are missing after a move, the script prints BROKEN with
#   every node's CLUSTER NODES / CLUSTER INFO and log tail, stops measuring that part for
#   that server, builds that cluster afresh for the next part, and exits with status 1
#   after the summary. The nodes' logs are kept in $WORK until the script ends.
#
# How to run (from anywhere):
#   CAIRN_BIN=target/release/cairn bash bench/cluster.sh        # defaults: about 10 minutes
#   TRIALS=3 REDIS_DEFAULT_TRIALS=1 ROUNDS=1 RESHARD_KEYS=20000 BENCH_N=100000 \
#       bash bench/cluster.sh                                    # smoke run, about 2 minutes
#   BENCH_PARTS=failover TRIALS=20 REDIS_DEFAULT_TRIALS=0 bash bench/cluster.sh
#
# Settings (environment variables):
#   BENCH_PARTS           parts to run, comma- or space-separated
#                         (default "failover,reshard,throughput")
#   TRIALS                failover trials of cairn and redis-800              (default 10)
#   REDIS_DEFAULT_TRIALS  failover trials of redis at its default 15 s timeout (default 3; 0: none)
#   REDIS_FAST_TIMEOUT    redis-800's cluster-node-timeout, ms                 (default 800)
#   FAILOVER_LIMIT        seconds a client waits for its first write after a kill (default 60)
#   HEALTH_TIMEOUT        seconds allowed for a cluster to be healthy again    (default 120)
#   ROUNDS                A/B rounds of the reshard and throughput parts        (default 3)
#   RESHARD_SLOTS         slots moved per reshard (at most 5461)                (default 1000)
#   RESHARD_KEYS          keys in those slots                                  (default 200000)
#   VALUE_SIZE            bytes per value                                      (default 100)
#   LOAD_CLIENTS          load processes during a reshard                      (default 4)
#   LOAD_RATE             their requests per second, together                 (default 2000)
#   LOAD_WARM             seconds of load before the reshard starts            (default 3)
#   RESHARD_CROSS         1: also move the Redis cluster's slots with Cairn's tool (there
#                         and back, no load), to tell the tool from the server (default 1)
#   BENCH_N               requests per redis-benchmark test                    (default 1000000)
#   BENCH_PIPES           pipeline depths of the throughput part              (default "1 16")
#   BENCH_TIMEOUT         seconds allowed for one tool, load or redis-benchmark run (default 600)
#   CLUSTER_BASE_PORT     first client port tried for the clusters             (default 22001)
#   CAIRN_BIN             use this cairn binary; skips `cargo build --release -p cairn`
#   CAIRN_ARGS            extra settings for every Cairn node, e.g. "--threads 2"
#
# Needs: bash 5, python3 with redis-py 5 or later (`pip install redis`), redis-server,
# redis-cli and redis-benchmark 7 (installed with apt-get if missing, as root). Every process
# the script starts is stopped when it exits, including on failure, Ctrl-C and SIGTERM, and
# its temporary directory is removed.

set -euo pipefail
export LC_ALL=C   # '.' as the decimal point in printf

# ---------------------------------------------------------------- settings --
IFS=', ' read -r -a PARTS <<<"${BENCH_PARTS:-failover,reshard,throughput}"   # commas or spaces
TRIALS="${TRIALS:-10}"
REDIS_DEFAULT_TRIALS="${REDIS_DEFAULT_TRIALS:-3}"
REDIS_FAST_TIMEOUT="${REDIS_FAST_TIMEOUT:-800}"
REDIS_DEFAULT_TIMEOUT=15000
FAILOVER_LIMIT="${FAILOVER_LIMIT:-60}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-120}"
ROUNDS="${ROUNDS:-3}"
RESHARD_SLOTS="${RESHARD_SLOTS:-1000}"
RESHARD_KEYS="${RESHARD_KEYS:-200000}"
VALUE_SIZE="${VALUE_SIZE:-100}"
LOAD_CLIENTS="${LOAD_CLIENTS:-4}"
LOAD_RATE="${LOAD_RATE:-2000}"
LOAD_WARM="${LOAD_WARM:-3}"
RESHARD_CROSS="${RESHARD_CROSS:-1}"
BENCH_N="${BENCH_N:-1000000}"
read -r -a PIPES <<<"${BENCH_PIPES:-1 16}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-600}"
CLUSTER_BASE_PORT="${CLUSTER_BASE_PORT:-22001}"
CAIRN_BIN="${CAIRN_BIN:-}"

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_positive TRIALS REDIS_FAST_TIMEOUT FAILOVER_LIMIT HEALTH_TIMEOUT ROUNDS RESHARD_SLOTS \
    RESHARD_KEYS VALUE_SIZE LOAD_CLIENTS LOAD_RATE LOAD_WARM BENCH_N BENCH_TIMEOUT CLUSTER_BASE_PORT
[[ "$RESHARD_CROSS" =~ ^[01]$ ]] || die "RESHARD_CROSS must be 0 or 1"
[[ "$REDIS_DEFAULT_TRIALS" =~ ^[0-9]+$ ]] || die "REDIS_DEFAULT_TRIALS must be a number (got '$REDIS_DEFAULT_TRIALS')"
((RESHARD_SLOTS <= 5461)) || die "RESHARD_SLOTS must be at most 5461 (the first primary's range)"
((RESHARD_KEYS >= RESHARD_SLOTS)) || die "RESHARD_KEYS must be at least RESHARD_SLOTS"
((RESHARD_KEYS <= 999999 * RESHARD_SLOTS)) || die "RESHARD_KEYS: at most 999999 keys per slot"
((CLUSTER_BASE_PORT + 10000 < 65500)) || die "CLUSTER_BASE_PORT too high (bus ports are +10000)"
((${#PARTS[@]} > 0)) || die "BENCH_PARTS is empty"
declare -A WANT=()
for part in "${PARTS[@]}"; do
    [[ "$part" =~ ^(failover|reshard|throughput)$ ]] \
        || die "BENCH_PARTS: unknown part '$part' (failover, reshard, throughput)"
    WANT[$part]=1
done
((${#PIPES[@]} > 0)) || die "BENCH_PIPES is empty"
for p in "${PIPES[@]}"; do
    if ! [[ "$p" =~ ^[1-9][0-9]*$ ]] || ((p > 1000)); then
        die "BENCH_PIPES must be integers from 1 to 1000 (got '$p')"
    fi
done
((BASH_VERSINFO[0] >= 5)) || die "bash 5 or later is required"

resolve_cairn_bin

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT/bench${PYTHONPATH:+:$PYTHONPATH}"   # the helpers import resp.py
cd "$ROOT"

# ------------------------------------------------------------ dependencies --
command -v python3 >/dev/null || die "python3 is required (clients, polling, medians)"
python3 -c 'import redis.cluster' 2>/dev/null \
    || die "python3 module redis (redis-py, with RedisCluster) is required: pip install redis"
ensure_redis_tools

# ------------------------------------------------------------------- build --
build_cairn

# ------------------------------------------------- servers and clean-up ----
START_SECONDS=$SECONDS
WORK="$(mktemp -d -t cairn-cluster-bench.XXXXXX)"   # node dirs, logs, key files, results
RESULTS="$WORK/results.tsv"                         # one record per measurement (kind first)
: >"$RESULTS"
NODES=6
INSTANCES=()
for srv in cairn redis; do
    for ((i = 1; i <= NODES; i++)); do INSTANCES+=("$srv$i"); done
done
declare -A PID=() PORT=() CMDLINE=()
BENCH_PID=""      # a tool, client or redis-benchmark in progress, if any
LOAD_PID=""       # the reshard part's client load, running beside the tool
CLEANUP_PID_VARS="LOAD_PID"
CHECK_FAILED=0
BROKEN=""         # set by broken(): the part being measured stops for that server
BROKEN_LIST=()
UNEXPECTED=()     # failovers nobody asked for
REDIS_TIMEOUT=$REDIS_DEFAULT_TIMEOUT   # the node timeout the Redis nodes run with now

install_cleanup

# pick_base FROM: the first port B >= FROM (step 10) with B..B+5 and B+10000..B+10005 free.
pick_base() {
    python3 - "$1" <<'PY'
import socket, sys
start = int(sys.argv[1])
for base in range(start, 65535 - 10010, 10):
    ok = True
    for port in [base + i for i in range(6)] + [base + 10000 + i for i in range(6)]:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            ok = False
        finally:
            s.close()
        if not ok:
            break
    if ok:
        print(base)
        sys.exit(0)
sys.exit("no free range of ports")
PY
}
CAIRN_BASE="$(pick_base "$CLUSTER_BASE_PORT")" || die "no free ports for the Cairn cluster"
REDIS_BASE="$(pick_base "$((CAIRN_BASE + 10))")" || die "no free ports for the Redis cluster"
for ((i = 1; i <= NODES; i++)); do
    PORT[cairn$i]=$((CAIRN_BASE + i - 1))
    PORT[redis$i]=$((REDIS_BASE + i - 1))
done

server_argv() {   # server_argv INSTANCE: the node's argv, one word per line
    local inst="$1" port="${PORT[$1]}" dir="$WORK/$1"
    case "$inst" in
    cairn*)
        printf '%s\n' "$CAIRN_BIN" server --cluster-enabled yes --port "$port" --bind 127.0.0.1 \
            --dir "$dir" --save "" --appendonly no --repl-diskless-sync-delay 0
        # shellcheck disable=SC2086 # CAIRN_ARGS is a list of extra words on purpose
        [[ -z "${CAIRN_ARGS:-}" ]] || printf '%s\n' ${CAIRN_ARGS} ;;
    redis*)
        printf '%s\n' redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
            --cluster-config-file "nodes-$port.conf" --dir "$dir" --save "" --appendonly no \
            --daemonize no --repl-diskless-sync-delay 0 --cluster-node-timeout "$REDIS_TIMEOUT" ;;
    *) die "unknown instance $inst" ;;
    esac
}

# start_node INSTANCE: starts the node on its fixed port and directory (kept: a restarted
# node comes back with its cluster configuration), log appended to $WORK/INSTANCE.log.
start_node() {
    local inst="$1"
    local -a argv
    mkdir -p "$WORK/$inst"
    mapfile -t argv < <(server_argv "$inst")
    echo "---- $(date -u '+%H:%M:%S.%N') start" >>"$WORK/$inst.log"
    (cd "$WORK/$inst" && exec "${argv[@]}") >>"$WORK/$inst.log" 2>&1 &
    PID[$inst]=$!
    CMDLINE[$inst]="$(for w in "${argv[@]}"; do [[ -n $w ]] && printf '%s ' "$w" || printf '"" '; done)"
    if ! wait_for_ping "$inst"; then
        wait "${PID[$inst]}" 2>/dev/null || true
        tail -n 5 "$WORK/$inst.log" >&2
        die "$inst exited before answering PING on port ${PORT[$inst]} (command: ${CMDLINE[$inst]})"
    fi
}
stop_node() { stop_pid "${PID[$1]:-}"; PID[$1]=""; }
nodes_of() { local i; for ((i = 1; i <= NODES; i++)); do echo "$1$i"; done; }   # nodes_of SERVER
ports_of() { local i; for ((i = 1; i <= NODES; i++)); do echo "${PORT[$1$i]}"; done; }
inst_of_port() {   # inst_of_port SERVER PORT
    local inst
    for inst in $(nodes_of "$1"); do [[ ${PORT[$inst]} != "$2" ]] || { echo "$inst"; return 0; }; done
    die "no $1 node on port $2"
}

# ---------------------------------------------------------- python helper --
# cl.py: the cluster probes and clients. Admin commands go over plain sockets; the
# measured clients are redis-py RedisCluster.
#   cl.py layout PORT             one line per primary, by slot range: `FIRST_SLOT PORT ID`
#                                 (from PORT's CLUSTER SLOTS, lowest slot of each range)
#   cl.py owner PORT SLOT         `PORT ID` of the primary owning SLOT
#   cl.py primaries PORT          the primaries' ids, sorted, on one line
#   cl.py primary_ports PORT      the primaries' ports, on one line
#   cl.py leader PORT             cairn_raft_leader of PORT's CLUSTER INFO (empty on Redis)
#   cl.py health LIMIT PORT...    waits until the cluster of these nodes is healthy (see the
#                                 header); prints `seconds=S`, or exit 2 and what is wrong
#   cl.py failover SEED VPORT VPID TRIAL LIMIT    one failover trial (see the header);
#                                 prints key=value; exit 2 if no write went through
#   cl.py gen SLOTS KEYS VSIZE TAGFILE            RESP SETs of the reshard keys on stdout
#   cl.py count PORT FIRST N      sum of COUNTKEYSINSLOT FIRST..FIRST+N-1 on PORT
#   cl.py owns PORT FIRST N ID    exit 0 if PORT's CLUSTER SLOTS gives every one of these
#                                 slots to ID
#   cl.py load SEED TAGFILE KEYS CLIENTS RATE VSIZE STOPFILE STARTFILE ENDFILE LIMIT OUTDIR
#                                 the reshard part's load; prints the figures as key=value
cat >"$WORK/cl.py" <<'PY'
import array, json, os, random, signal, socket, statistics, sys, time

from resp import Conn

def kv_text(text):
    return dict(l.split(":", 1) for l in text.split("\r\n") if ":" in l)

def slot_map(port):
    """[(first, last, port, id)] from CLUSTER SLOTS."""
    c = Conn(port, timeout=5)
    try:
        out = []
        for r in c.cmd("CLUSTER", "SLOTS"):
            out.append((int(r[0]), int(r[1]), int(r[2][1]), r[2][2]))
        return sorted(out)
    finally:
        c.close()

def owner(port, slot):
    for first, last, p, nid in slot_map(port):
        if first <= slot <= last:
            return p, nid
    sys.exit(f"slot {slot} has no owner in {port}'s CLUSTER SLOTS")

def parse_nodes(text):
    nodes = {}
    for line in text.strip().split("\n"):
        f = line.split()
        if len(f) < 8:
            continue
        flags = set(f[2].split(","))
        slots = set()
        for s in f[8:]:
            if s.startswith("["):
                continue
            a, _, b = s.partition("-")
            slots.update(range(int(a), int(b or a) + 1))
        nodes[f[0]] = dict(addr=f[1].split("@")[0], flags=flags, master=f[3], slots=frozenset(slots),
                           markers=[s for s in f[8:] if s.startswith("[")], myself="myself" in flags)
    return nodes

def health_problems(ports):
    """What keeps the cluster from being healthy now (empty list: healthy)."""
    problems, views = [], {}
    for port in ports:
        try:
            c = Conn(port, timeout=2)
        except OSError as e:
            problems.append(f"{port}: {e}")
            continue
        try:
            if c.cmd("PING") != "PONG":
                problems.append(f"{port}: no PONG")
                continue
            info = kv_text(c.cmd("CLUSTER", "INFO"))
            for k, want in (("cluster_state", "ok"), ("cluster_slots_assigned", "16384"),
                            ("cluster_slots_ok", "16384"), ("cluster_known_nodes", str(len(ports)))):
                if info.get(k) != want:
                    problems.append(f"{port}: {k}:{info.get(k)}")
            if info.get("cairn_fenced", "0") != "0":
                problems.append(f"{port}: cairn_fenced:{info.get('cairn_fenced')}")
            nodes = parse_nodes(c.cmd("CLUSTER", "NODES"))
            me = [n for n in nodes.values() if n["myself"]]
            for nid, n in nodes.items():
                bad = n["flags"] & {"fail", "fail?", "handshake", "noaddr"}
                if bad:
                    problems.append(f"{port}: {n['addr']} {','.join(sorted(bad))}")
                if n["markers"] and n["myself"]:
                    problems.append(f"{port}: open slot {' '.join(n['markers'])}")
            views[port] = {nid: ("master" if "master" in n["flags"] else "slave", n["master"], n["slots"])
                           for nid, n in nodes.items()}
            repl = kv_text(c.cmd("INFO", "replication"))
            if me and "slave" in me[0]["flags"]:
                if repl.get("role") != "slave" or repl.get("master_link_status") != "up" \
                        or repl.get("master_sync_in_progress") != "0":
                    problems.append(f"{port}: replica not in sync (role:{repl.get('role')}"
                                    f" link:{repl.get('master_link_status')}"
                                    f" sync_in_progress:{repl.get('master_sync_in_progress')})")
        except OSError as e:
            problems.append(f"{port}: {e}")
        finally:
            c.close()
    if views and not problems:
        first = next(iter(views.values()))
        for port, v in views.items():
            if v != first:
                problems.append(f"{port}: its view of members, roles or slots differs")
        primaries = [nid for nid, (role, _, slots) in first.items() if role == "master" and slots]
        replicas = [(nid, m) for nid, (role, m, _) in first.items() if role == "slave"]
        if len(primaries) != len(ports) // 2:
            problems.append(f"{len(primaries)} primaries with slots")
        for p in primaries:
            n = sum(1 for _, m in replicas if m == p)
            if n != 1:
                problems.append(f"primary {p[:8]} has {n} replicas")
    return problems

def health(limit, ports, poll=0.05):
    t0 = time.time()
    while True:
        problems = health_problems(ports)
        if not problems:
            print(f"seconds={time.time() - t0:.3f}")
            return
        if time.time() - t0 > limit:
            print(f"not healthy after {limit:.0f} s: " + "; ".join(problems[:12]))
            sys.exit(2)
        time.sleep(poll)

def cluster_client(port, **kw):
    import redis
    from redis.backoff import NoBackoff
    from redis.cluster import ClusterNode, RedisCluster
    from redis.retry import Retry
    args = dict(startup_nodes=[ClusterNode("127.0.0.1", port)], socket_timeout=5,
                socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    args.update(kw)
    try:
        return RedisCluster(topology_refresh_min_interval=0.02, **args)
    except TypeError:   # redis-py without that setting: refreshes are not rate-limited there
        return RedisCluster(**args)

def failover(seed, vport, vpid, trial, limit):
    from redis.crc import key_slot
    rc = cluster_client(seed)
    slots = {s for first, last, p, _ in slot_map(seed) if p == vport for s in range(first, last + 1)}
    if not slots:
        sys.exit(f"port {vport} owns no slot")
    keys, i = {"pre": [], "loop": [], "post": []}, 0
    while min(len(v) for v in keys.values()) < 100:
        k = f"fo:{trial}:{i}"
        i += 1
        if key_slot(k.encode()) in slots:
            for kind in ("pre", "loop", "post"):
                if len(keys[kind]) < 100:
                    keys[kind].append(k)
                    break
    for k in keys["pre"]:
        rc.set(k, "pre:" + k)
    vnode = rc.get_node(host="127.0.0.1", port=vport)
    waited = rc.execute_command("WAIT", 1, 5000, target_nodes=vnode)
    if waited != 1:
        sys.exit(f"WAIT 1 5000 on the victim answered {waited}")
    # The loop: SETs on the victim's slots, the kill in the middle of it.
    last_acked = {}
    for j in range(300):
        k = keys["loop"][j % 100]
        rc.set(k, f"loop:{j}")
        last_acked[k] = f"loop:{j}"
    t0 = time.monotonic()
    os.kill(vpid, signal.SIGKILL)
    errors, kinds, first_error, j = 0, {}, None, 0
    while True:
        k = keys["post"][j % 100]
        j += 1
        ts = time.monotonic()
        try:
            rc.set(k, f"post:{j}")
            node = rc.get_node_from_key(k)
            if node.port != vport:
                t1 = time.monotonic()
                break
        except Exception as e:   # anything: the client retries, as an application would
            errors += 1
            name = type(e).__name__
            kinds[name] = kinds.get(name, 0) + 1
            if first_error is None:
                first_error = ts - t0
            time.sleep(0.005)
        if time.monotonic() - t0 > limit:
            print(f"ok=0 seconds={time.monotonic() - t0:.1f} errors={errors} kinds={json.dumps(kinds, separators=(',', ':'))}")
            sys.exit(2)
    lost_pre = [k for k in keys["pre"] if rc.get(k) != ("pre:" + k).encode()]
    lost_loop = sum(1 for k, v in last_acked.items() if rc.get(k) != v.encode())
    print(f"ok=1 seconds={t1 - t0:.4f} new_port={node.port} errors={errors}"
          f" kinds={json.dumps(kinds, separators=(',', ':'))} first_error={first_error if first_error is None else round(first_error, 4)}"
          f" lost_confirmed={len(lost_pre)} lost_unconfirmed={lost_loop}"
          + (f" lost_keys={','.join(lost_pre[:5])}" if lost_pre else ""))

def tags_for(nslots):
    from redis.crc import key_slot
    tags, i = {}, 0
    while len(tags) < nslots:
        t = f"t{i}"
        i += 1
        s = key_slot(t.encode())
        if s < nslots and s not in tags:
            tags[s] = t
    return [tags[s] for s in range(nslots)]

def reshard_keys(tags, nkeys):
    n = len(tags)
    return [f"{{{tags[i % n]}}}:{i // n:06d}" for i in range(nkeys)]

def gen(nslots, nkeys, vsize, tagfile):
    tags = tags_for(nslots)
    with open(tagfile, "w") as f:
        json.dump(tags, f)
    out, buf, total = sys.stdout.buffer, [], 0
    for i, k in enumerate(reshard_keys(tags, nkeys)):
        v = (b"%d:" % i).ljust(vsize, b"v")[:vsize]
        kb = k.encode()
        total += len(kb) + len(v)
        buf.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(kb), kb, len(v), v))
        if len(buf) == 65536:
            out.write(b"".join(buf))
            buf.clear()
    out.write(b"".join(buf))
    print(f"bytes={total}", file=sys.stderr)

def count(port, first, n):
    c = Conn(port, timeout=30)
    replies = c.send(*[("CLUSTER", "COUNTKEYSINSLOT", s) for s in range(first, first + n)])
    bad = [r for r in replies if not isinstance(r, int)]
    if bad:
        sys.exit(f"COUNTKEYSINSLOT on {port} answered {bad[0]}")
    print(sum(replies))

def owns(port, first, n, nid):
    want = set(range(first, first + n))
    for f, l, _, i in slot_map(port):
        if i == nid:
            want -= set(range(f, l + 1))
    sys.exit(0 if not want else 1)

def load_worker(seed, keys, rate, vsize, stopfile, limit, out, wid):
    random.seed(wid)
    rc = cluster_client(seed, socket_timeout=10)
    value = b"w".ljust(vsize, b"w")
    times, lats = array.array("d"), array.array("d")
    errors, missing, kinds, first_errors = 0, 0, {}, []
    period = 1.0 / rate
    t_end = time.time() + limit
    nxt = time.time()
    n = 0
    while True:
        now = time.time()
        if now < nxt:
            time.sleep(nxt - now)
        elif now - nxt > 1.0:
            nxt = now    # far behind (a stall): do not burst to catch up
        nxt += period
        if n % 50 == 0 and (os.path.exists(stopfile) or time.time() > t_end):
            break
        n += 1
        k = random.choice(keys)
        t = time.time()
        s = time.perf_counter()
        try:
            if n % 2:
                rc.set(k, value)
            else:
                if rc.get(k) is None:
                    missing += 1
            lats.append(time.perf_counter() - s)
            times.append(t)
        except Exception as e:
            errors += 1
            kinds[type(e).__name__] = kinds.get(type(e).__name__, 0) + 1
            if len(first_errors) < 3:
                first_errors.append(f"{type(e).__name__}: {e}"[:200])
            times.append(t)
            lats.append(-1.0)
    with open(f"{out}/w{wid}.bin", "wb") as f:
        times.tofile(f)
        lats.tofile(f)
    with open(f"{out}/w{wid}.json", "w") as f:
        json.dump(dict(n=len(times), errors=errors, missing=missing, kinds=kinds, first=first_errors), f)

def pct(sorted_vals, q):
    if not sorted_vals:
        return float("nan")
    return sorted_vals[min(len(sorted_vals) - 1, int(q * len(sorted_vals)))]

def load(seed, tagfile, nkeys, clients, rate, vsize, stopfile, startfile, endfile, limit, out):
    import multiprocessing
    with open(tagfile) as f:
        keys = reshard_keys(json.load(f), nkeys)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # atexit stops the daemonic workers
    procs = [multiprocessing.Process(target=load_worker, daemon=True,
                                     args=(seed, keys, rate / clients, vsize, stopfile, limit, out, w))
             for w in range(clients)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    with open(startfile) as f:
        t_start = float(f.read())
    t_end = float(open(endfile).read()) if os.path.exists(endfile) else time.time()
    lat = {"idle": [], "during": []}
    errs = {"idle": 0, "during": 0}
    tot_err, tot_missing, kinds, first = 0, 0, {}, []
    for w in range(clients):
        with open(f"{out}/w{w}.json") as f:
            meta = json.load(f)
        tot_err += meta["errors"]
        tot_missing += meta["missing"]
        for k, v in meta["kinds"].items():
            kinds[k] = kinds.get(k, 0) + v
        first += meta["first"]
        n = meta["n"]
        a = array.array("d")
        with open(f"{out}/w{w}.bin", "rb") as f:
            a.fromfile(f, 2 * n)
        for t, l in zip(a[:n], a[n:]):
            ph = "idle" if t < t_start else ("during" if t <= t_end else None)
            if ph is None:
                continue
            if l < 0:
                errs[ph] += 1
            else:
                lat[ph].append(l * 1000)
    res = [f"errors={tot_err}", f"missing={tot_missing}",
           f"kinds={json.dumps(kinds, separators=(',', ':'))}"]
    for ph in ("idle", "during"):
        v = sorted(lat[ph])
        res += [f"{ph}_n={len(v)}", f"{ph}_errors={errs[ph]}", f"{ph}_p50={pct(v, 0.5):.3f}",
                f"{ph}_p99={pct(v, 0.99):.3f}", f"{ph}_p999={pct(v, 0.999):.3f}",
                f"{ph}_max={(v[-1] if v else float('nan')):.3f}"]
    res.append(f"during_s={t_end - t_start:.3f}")
    print(" ".join(res))
    for e in first[:3]:
        print("first error: " + e, file=sys.stderr)

cmd, a = sys.argv[1], sys.argv[2:]
try:
    if cmd == "layout":
        for first, last, p, nid in slot_map(int(a[0])):
            print(first, p, nid)
    elif cmd == "owner":
        print(*owner(int(a[0]), int(a[1])))
    elif cmd == "primary_ports":
        print(" ".join(str(p) for p in sorted({p for _, _, p, _ in slot_map(int(a[0]))})))
    elif cmd == "primaries":
        print(" ".join(sorted({nid for _, _, _, nid in slot_map(int(a[0]))})))
    elif cmd == "leader":
        c = Conn(int(a[0]), timeout=5)
        print(kv_text(c.cmd("CLUSTER", "INFO")).get("cairn_raft_leader", ""))
    elif cmd == "health":
        health(float(a[0]), [int(x) for x in a[1:]])
    elif cmd == "failover":
        failover(int(a[0]), int(a[1]), int(a[2]), a[3], float(a[4]))
    elif cmd == "gen":
        gen(int(a[0]), int(a[1]), int(a[2]), a[3])
    elif cmd == "count":
        count(int(a[0]), int(a[1]), int(a[2]))
    elif cmd == "owns":
        owns(int(a[0]), int(a[1]), int(a[2]), a[3])
    elif cmd == "load":
        load(int(a[0]), a[1], int(a[2]), int(a[3]), float(a[4]), int(a[5]), a[6], a[7], a[8],
             float(a[9]), a[10])
    else:
        sys.exit(f"unknown command {cmd}")
except OSError as e:
    sys.exit(f"cl.py {cmd}: {e}")
PY

# ------------------------------------------------------------------ helpers --
cl() { timeout "$BENCH_TIMEOUT" python3 "$WORK/cl.py" "$@"; }
cli() {   # cli INSTANCE ARGS...: one redis-cli command under a time limit
    local inst="$1"
    shift
    timeout "$BENCH_TIMEOUT" redis-cli -h 127.0.0.1 -p "${PORT[$inst]}" "$@"
}
quick_cli() { timeout 5 redis-cli -h 127.0.0.1 -p "${PORT[$1]}" "${@:2}"; }   # for diagnostics
# cpu_ticks PID: user + system CPU of the process and its reaped children, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
cluster_ticks() { local inst t=0; for inst in $(nodes_of "$1"); do t=$((t + $(cpu_ticks "${PID[$inst]}"))); done; echo "$t"; }
CLK_TCK="$(getconf CLK_TCK)"
now() { echo "${EPOCHREALTIME/,/.}"; }
kv() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2; exit }'; }   # kv NAME "k=v ..."
a_live_port() {   # a_live_port SERVER: the port of a node that is running
    local inst
    for inst in $(nodes_of "$1"); do is_running "${PID[$inst]:-0}" && { echo "${PORT[$inst]}"; return 0; }; done
    die "no $1 node is running"
}
flush_primaries() {   # flush_primaries SERVER: FLUSHALL on every primary (replicas follow)
    local port
    for port in $(cl primary_ports "$(a_live_port "$1")"); do
        [[ "$(cli "$(inst_of_port "$1" "$port")" flushall)" == OK ]] || die "FLUSHALL on $1 port $port failed"
    done
}
require_running() {   # require_running SERVER: dies if a node exited
    local inst
    for inst in $(nodes_of "$1"); do
        is_running "${PID[$inst]}" || die "$inst (pid ${PID[$inst]}, port ${PORT[$inst]}) exited; see its log below"
    done
}

# broken PART SERVER WHAT: reports a failed check with every node's state and log tail;
# the caller returns and the part stops for that server.
broken() {
    local part="$1" srv="$2" what="$3" inst
    echo
    echo "BROKEN ($part, $srv): $what"
    for inst in $(nodes_of "$srv"); do
        echo "---- $inst (port ${PORT[$inst]}, pid ${PID[$inst]:-none})"
        if is_running "${PID[$inst]:-0}"; then
            { quick_cli "$inst" cluster info | tr -d '\r' \
                | grep -E '^(cluster_state|cluster_slots_(assigned|ok|pfail|fail)|cluster_known_nodes|cluster_current_epoch|cairn_)' \
                | paste -sd ' ' || true; } | sed 's/^/    /'
            { quick_cli "$inst" cluster nodes | tr -d '\r' || true; } | sed 's/^/    /'
            { quick_cli "$inst" info replication | tr -d '\r' \
                | grep -E '^(role|master_host|master_port|master_link_status|master_sync_in_progress|connected_slaves)' \
                | paste -sd ' ' || true; } | sed 's/^/    /'
        else
            echo "    (not running)"
        fi
        echo "    -- last lines of $inst.log"
        tail -n 12 "$WORK/$inst.log" | sed 's/\x1b\[[0-9;]*m//g; s/^/    /'
    done
    echo
    BROKEN="$part/$srv"
    BROKEN_LIST+=("$part ($srv): $what")
    CHECK_FAILED=1
}

# wait_healthy PART SERVER: until the cluster is healthy (cl.py health), or broken().
wait_healthy() {
    local part="$1" srv="$2" out rc=0
    local -a ports
    mapfile -t ports < <(ports_of "$srv")
    out="$(timeout "$((HEALTH_TIMEOUT + 30))" python3 "$WORK/cl.py" health "$HEALTH_TIMEOUT" "${ports[@]}")" || rc=$?
    if [[ $rc -ne 0 ]]; then
        broken "$part" "$srv" "the cluster was not healthy within ${HEALTH_TIMEOUT} s: $out"
    fi
}

# make_cluster SERVER: nodes started empty, the cluster created, waited for.
make_cluster() {
    local srv="$1" inst rc=0
    local -a addrs=()
    for inst in $(nodes_of "$srv"); do
        rm -rf "${WORK:?}/$inst"
        start_node "$inst"
        addrs+=("127.0.0.1:${PORT[$inst]}")
    done
    if [[ $srv == cairn ]]; then
        timeout 180 "$CAIRN_BIN" cluster create "${addrs[@]}" --replicas 1 --yes \
            >"$WORK/create-$srv.out" 2>&1 </dev/null || rc=$?
    else
        timeout 180 redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes \
            >"$WORK/create-$srv.out" 2>&1 </dev/null || rc=$?
    fi
    if [[ $rc -ne 0 ]]; then
        cat "$WORK/create-$srv.out" >&2
        die "creating the $srv cluster failed (exit $rc)"
    fi
    wait_healthy create "$srv"
    [[ -z "$BROKEN" ]] || die "the new $srv cluster never became healthy"
}

# reset_cluster SERVER: after a broken part, the cluster is stopped and made afresh.
reset_cluster() {
    local inst
    echo "==> rebuilding the $1 cluster from empty nodes"
    for inst in $(nodes_of "$1"); do stop_node "$inst"; done
    BROKEN=""
    make_cluster "$1"
    [[ $1 != redis ]] || set_redis_timeout "$REDIS_TIMEOUT"
}

# set_redis_timeout MS: CONFIG SET cluster-node-timeout on every Redis node (and on the
# command line of any node restarted later).
set_redis_timeout() {
    local inst
    REDIS_TIMEOUT="$1"
    for inst in $(nodes_of redis); do
        [[ "$(cli "$inst" config set cluster-node-timeout "$1")" == OK ]] \
            || die "CONFIG SET cluster-node-timeout on $inst failed"
    done
}

# primaries_check PART SERVER BEFORE: notes an unexpected failover if the set of primaries
# changed from BEFORE (cl.py primaries).
primaries_check() {
    local part="$1" srv="$2" before="$3" after
    after="$(cl primaries "$(a_live_port "$srv")")"
    if [[ "$after" != "$before" ]]; then
        echo "    UNEXPECTED FAILOVER ($part, $srv): primaries were [$before], now [$after]"
        UNEXPECTED+=("$part ($srv): primaries were [$before], now [$after]")
    fi
}

# ---------------------------------------------------------------- start-up --
CAIRN_VERSION="$(timeout 5 "$CAIRN_BIN" --version 2>/dev/null </dev/null | head -n 1)" || CAIRN_VERSION=""
[[ -n "$CAIRN_VERSION" ]] || CAIRN_VERSION="unknown"
echo "== Cairn vs Redis Cluster: failover, resharding, throughput (6 nodes: 3 primaries + 3 replicas each)"
echo "date:            $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "cpus:            $(nproc 2>/dev/null || echo '?'); loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "cairn binary:    $CAIRN_BIN"
echo "cairn version:   $CAIRN_VERSION"
echo "redis-server:    $(redis-server --version)"
echo "redis-benchmark: $(redis-benchmark --version 2>/dev/null || echo unknown)"
echo "redis-py:        $(python3 -c 'import redis; print(redis.__version__)')"
echo "parts:           ${PARTS[*]}; failover trials: cairn $TRIALS, redis-$REDIS_FAST_TIMEOUT $TRIALS, redis (15 s) $REDIS_DEFAULT_TRIALS; rounds: $ROUNDS"
for srv in cairn redis; do make_cluster "$srv"; done
echo "cairn threads:   $(cli cairn1 config get threads | tail -n 1) per node; redis io-threads $(cli redis1 config get io-threads | tail -n 1)"
echo "nodes (the others: the same command on their own port and directory):"
for inst in cairn1 redis1; do printf '  %-7s %s\n' "$inst" "${CMDLINE[$inst]}"; done
echo "  cairn ports ${PORT[cairn1]}-${PORT[cairn6]}, redis ports ${PORT[redis1]}-${PORT[redis6]} (bus: +10000)"
echo

# --------------------------------------------------------- part 1: failover --
RANGE_FIRST=(0 5461 10923)

# failover_one VARIANT TRIAL: one kill, the client's recovery, the restart and the rejoin.
failover_one() {
    local variant="$1" trial="$2" srv="${1%%-*}" vport vid vinst seed leader="" was_leader="-" out rc=0
    require_running "$srv"
    read -r vport vid < <(cl owner "$(a_live_port "$srv")" "${RANGE_FIRST[$((trial % 3))]}")
    vinst="$(inst_of_port "$srv" "$vport")"
    seed="$(a_live_port_except "$srv" "$vport")"
    if [[ $srv == cairn ]]; then
        leader="$(cl leader "$seed")"
        if [[ "$leader" == "$vid" ]]; then was_leader=yes; else was_leader=no; fi
    fi
    # Killed by the client, not by us: disowned, so bash does not report the job's death
    # (it still reaps the process).
    disown "${PID[$vinst]}" 2>/dev/null || true
    timeout "$((FAILOVER_LIMIT + 60))" python3 "$WORK/cl.py" failover "$seed" "$vport" "${PID[$vinst]}" \
        "$variant.$trial" "$FAILOVER_LIMIT" >"$WORK/fo.out" 2>"$WORK/fo.err" &
    BENCH_PID=$!
    wait "$BENCH_PID" || rc=$?
    BENCH_PID=""
    out="$(<"$WORK/fo.out")"
    local deadline=$((SECONDS + 10))
    while is_running "${PID[$vinst]}" && ((SECONDS < deadline)); do sleep 0.05; done
    is_running "${PID[$vinst]}" && die "$vinst (pid ${PID[$vinst]}) still runs after the client's SIGKILL"
    if [[ $rc -eq 2 ]]; then
        broken failover "$srv" "$variant trial $trial: no write to the slots of $vinst (port $vport) went through within ${FAILOVER_LIMIT} s of its SIGKILL: $out"
        return 0
    fi
    if [[ $rc -ne 0 || "$out" != ok=1* ]]; then
        cat "$WORK/fo.out" "$WORK/fo.err" >&2
        die "the failover client failed (exit $rc)"
    fi
    if [[ "$(kv lost_confirmed "$out")" != 0 ]]; then
        broken failover "$srv" "$variant trial $trial: $(kv lost_confirmed "$out") of 100 keys written and confirmed by WAIT 1 before the kill were lost or changed: $out"
        return 0
    fi
    # The killed node back on its port and directory: it must rejoin as a replica. The
    # rejoin time runs from the launch until the whole cluster is healthy.
    local t_launch rejoin
    t_launch="$(now)"
    start_node "$vinst"
    wait_healthy failover "$srv"
    [[ -z "$BROKEN" ]] || return 0
    rejoin="$(awk -v a="$t_launch" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')"
    printf 'failover\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$trial" "$(kv seconds "$out")" \
        "$rejoin" "$was_leader" "$vinst" "$out" >>"$RESULTS"
    printf '[trial %d] failover %-10s killed %s (port %s%s): first write OK after %6.3f s on port %s, %s client errors %s; lost: 0 confirmed, %s/100 unconfirmed; rejoined in %s s\n' \
        "$trial" "$variant" "$vinst" "$vport" "$(if [[ $was_leader == yes ]]; then echo ', Raft leader'; fi)" \
        "$(kv seconds "$out")" "$(kv new_port "$out")" "$(kv errors "$out")" "$(kv kinds "$out")" \
        "$(kv lost_unconfirmed "$out")" "$rejoin"
}
a_live_port_except() {   # a_live_port_except SERVER PORT: a running node's port, not PORT
    local inst
    for inst in $(nodes_of "$1"); do
        [[ ${PORT[$inst]} == "$2" ]] && continue
        is_running "${PID[$inst]:-0}" && { echo "${PORT[$inst]}"; return 0; }
    done
    die "no other $1 node is running"
}

if [[ -n "${WANT[failover]:-}" ]]; then
    echo "==> failover: kill -9 of a primary under a writing client (redis-py RedisCluster, retries every 5 ms),"
    echo "    timed from the kill to the first OK write to the dead primary's slots from another node;"
    echo "    then the node restarts on its port and directory and the cluster must be healthy again"
    FAST_VARIANT="redis-$REDIS_FAST_TIMEOUT"
    declare -A FO_BROKEN=()
    max_trials=$TRIALS
    ((REDIS_DEFAULT_TRIALS <= max_trials)) || max_trials=$REDIS_DEFAULT_TRIALS
    for ((trial = 1; trial <= max_trials; trial++)); do
        order=(cairn redis)
        ((trial % 2 == 1)) || order=(redis cairn)
        for srv in "${order[@]}"; do
            if [[ $srv == cairn ]]; then
                if ((trial > TRIALS)) || [[ -n "${FO_BROKEN[cairn]:-}" ]]; then continue; fi
                failover_one cairn "$trial"
                if [[ -n "$BROKEN" ]]; then FO_BROKEN[cairn]=1; reset_cluster cairn; fi
            else
                for variant in "$FAST_VARIANT" redis; do
                    if [[ $variant == redis ]]; then
                        ((trial <= REDIS_DEFAULT_TRIALS)) || continue
                        [[ $REDIS_TIMEOUT == "$REDIS_DEFAULT_TIMEOUT" ]] || set_redis_timeout "$REDIS_DEFAULT_TIMEOUT"
                    else
                        ((trial <= TRIALS)) || continue
                        [[ $REDIS_TIMEOUT == "$REDIS_FAST_TIMEOUT" ]] || set_redis_timeout "$REDIS_FAST_TIMEOUT"
                    fi
                    [[ -z "${FO_BROKEN[$variant]:-}" ]] || continue
                    failover_one "$variant" "$trial"
                    if [[ -n "$BROKEN" ]]; then FO_BROKEN[$variant]=1; reset_cluster redis; fi
                done
            fi
        done
    done
    [[ $REDIS_TIMEOUT == "$REDIS_DEFAULT_TIMEOUT" ]] || set_redis_timeout "$REDIS_DEFAULT_TIMEOUT"
    echo
fi

# ---------------------------------------------------------- part 2: reshard --
# reshard_one SERVER ROUND WITH_LOAD FROM_PORT FROM_ID TO_PORT TO_ID [TOOL]: one timed
# move of slots 0..RESHARD_SLOTS-1 from FROM to TO, checked. TOOL: native (default: the
# server's own tool) or cairn (Cairn's tool, used on the Redis cluster as a cross-check).
reshard_one() {
    local srv="$1" round="$2" with_load="$3" fport="$4" fid="$5" tport="$6" tid="$7" tool="${8:-native}"
    local label="$1"
    local rc=0 t0 t1 secs before n port load_out="" lrc=0
    local -a cmd ports
    mapfile -t ports < <(ports_of "$srv")
    require_running "$srv"
    n="$(cl count "$fport" 0 "$RESHARD_SLOTS")"
    [[ "$n" == "$RESHARD_KEYS" ]] || {
        broken reshard "$srv" "before the move: port $fport holds $n keys in slots 0-$((RESHARD_SLOTS - 1)), not $RESHARD_KEYS"
        return 0
    }
    before="$(cl primaries "$fport")"
    [[ $tool == native ]] || label="$srv/cairn-tool"
    if [[ $srv == cairn || $tool == cairn ]]; then
        cmd=("$CAIRN_BIN" cluster reshard "127.0.0.1:$fport" --from "$fid" --to "$tid" --slots "$RESHARD_SLOTS")
    else
        cmd=(redis-cli --cluster reshard "127.0.0.1:$fport" --cluster-from "$fid" --cluster-to "$tid"
            --cluster-slots "$RESHARD_SLOTS" --cluster-yes)
    fi
    RESHARD_CMD[$label]="${cmd[*]}"
    if [[ $with_load == 1 ]]; then
        rm -rf "$WORK/load" "$WORK/load.stop" "$WORK/load.start" "$WORK/load.end"
        mkdir -p "$WORK/load"
        timeout "$((BENCH_TIMEOUT + 60))" python3 "$WORK/cl.py" load "$tport" "$WORK/tags.json" "$RESHARD_KEYS" \
            "$LOAD_CLIENTS" "$LOAD_RATE" "$VALUE_SIZE" "$WORK/load.stop" "$WORK/load.start" \
            "$WORK/load.end" "$BENCH_TIMEOUT" "$WORK/load" >"$WORK/load.out" 2>"$WORK/load.err" &
        LOAD_PID=$!
        sleep "$LOAD_WARM"
        is_running "$LOAD_PID" || { cat "$WORK/load.out" "$WORK/load.err" >&2; die "the client load exited early"; }
    fi
    t0="$(now)"
    [[ $with_load == 0 ]] || echo "$t0" >"$WORK/load.start"
    run_bounded "$WORK/reshard.out" "$WORK/reshard.err" "${cmd[@]}" </dev/null || rc=$?
    t1="$(now)"
    if [[ $with_load == 1 ]]; then
        echo "$t1" >"$WORK/load.end"
        touch "$WORK/load.stop"
        wait "$LOAD_PID" || lrc=$?
        LOAD_PID=""
        load_out="$(<"$WORK/load.out")"
        if [[ $lrc -ne 0 || "$load_out" != errors=* ]]; then
            cat "$WORK/load.out" "$WORK/load.err" >&2
            die "the client load failed (exit $lrc)"
        fi
    fi
    secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
    if [[ $rc -ne 0 ]]; then
        broken reshard "$srv" "the reshard tool failed (exit $rc): ${cmd[*]}; last lines: $(tail -n 5 "$WORK/reshard.out" "$WORK/reshard.err" | tr -d '\r' | sed 's/\x1b\[[0-9;]*m//g' | paste -sd '|')"
        return 0
    fi
    # Every node must give the slots to TO (Redis's gossip may take a moment; 10 s).
    local deadline=$((SECONDS + 10)) ok
    while :; do
        ok=1
        for port in "${ports[@]}"; do cl owns "$port" 0 "$RESHARD_SLOTS" "$tid" || { ok=0; break; }; done
        ((ok == 0 && SECONDS < deadline)) || break
        sleep 0.1
    done
    if ((ok == 0)); then
        broken reshard "$srv" "10 s after the tool ended, port $port's CLUSTER SLOTS does not give slots 0-$((RESHARD_SLOTS - 1)) to $tid"
        return 0
    fi
    n="$(cl count "$tport" 0 "$RESHARD_SLOTS")"
    local left
    left="$(cl count "$fport" 0 "$RESHARD_SLOTS")"
    if [[ "$n" != "$RESHARD_KEYS" || "$left" != 0 ]]; then
        broken reshard "$srv" "after the move the destination (port $tport) holds $n of the $RESHARD_KEYS keys in slots 0-$((RESHARD_SLOTS - 1)) and the source (port $fport) $left"
        return 0
    fi
    if [[ $with_load == 1 && "$(kv missing "$load_out")" != 0 ]]; then
        broken reshard "$srv" "the client load read nil for $(kv missing "$load_out") GETs of keys that always exist: $load_out"
        return 0
    fi
    primaries_check reshard "$srv" "$before"
    printf 'reshard\t%s\t%s\t%s\t%s\t%s\n' "$label" "$round" "$with_load" "$secs" "$load_out" >>"$RESULTS"
    printf '[round %d/%d] reshard %-16s %s slots, %s keys, port %s -> %s%s: %7.3f s (%.0f keys/s, %.2f MB/s, %.0f slots/s)\n' \
        "$round" "$ROUNDS" "$label" "$RESHARD_SLOTS" "$RESHARD_KEYS" "$fport" "$tport" \
        "$([[ $with_load == 1 ]] && echo ", under load" || echo ", no load")" "$secs" \
        "$(awk -v k="$RESHARD_KEYS" -v s="$secs" 'BEGIN { print k / s }')" \
        "$(awk -v b="$RESHARD_BYTES" -v s="$secs" 'BEGIN { print b / s / 1e6 }')" \
        "$(awk -v k="$RESHARD_SLOTS" -v s="$secs" 'BEGIN { print k / s }')"
    if [[ $with_load == 1 ]]; then
        printf '           load %s req/s: idle p50 %s p99 %s max %s ms | during p50 %s p99 %s p99.9 %s max %s ms | errors %s %s, missing %s\n' \
            "$LOAD_RATE" "$(kv idle_p50 "$load_out")" "$(kv idle_p99 "$load_out")" "$(kv idle_max "$load_out")" \
            "$(kv during_p50 "$load_out")" "$(kv during_p99 "$load_out")" "$(kv during_p999 "$load_out")" \
            "$(kv during_max "$load_out")" "$(kv errors "$load_out")" "$(kv kinds "$load_out")" "$(kv missing "$load_out")"
        [[ ! -s "$WORK/load.err" ]] || sed 's/^/           /' "$WORK/load.err"
    fi
}
declare -A RESHARD_CMD=()
RESHARD_BYTES=0

if [[ -n "${WANT[reshard]:-}" ]]; then
    echo "==> reshard: $RESHARD_SLOTS slots holding $RESHARD_KEYS keys ($VALUE_SIZE-byte values), A -> B with no load,"
    echo "    B -> A under $LOAD_CLIENTS clients at $LOAD_RATE req/s together (50% SET, 50% GET of those keys)"
    python3 "$WORK/cl.py" gen "$RESHARD_SLOTS" "$RESHARD_KEYS" "$VALUE_SIZE" "$WORK/tags.json" \
        >"$WORK/reshard.resp" 2>"$WORK/gen.err" || { cat "$WORK/gen.err" >&2; die "generating the keys failed"; }
    RESHARD_BYTES="$(kv bytes "$(<"$WORK/gen.err")")"
    echo "    keys + values: $RESHARD_BYTES bytes"
    declare -A RS_BROKEN=()
    for srv in cairn redis; do
        require_running "$srv"
        read -r aport aid < <(cl owner "$(a_live_port "$srv")" 0)
        flush_primaries "$srv"   # only these keys in the cluster
        timeout "$BENCH_TIMEOUT" redis-cli -h 127.0.0.1 -p "$aport" --pipe <"$WORK/reshard.resp" \
            >"$WORK/pipe.out" 2>&1 || { cat "$WORK/pipe.out" >&2; die "loading the keys into $srv failed"; }
        grep -q "errors: 0, replies: $RESHARD_KEYS" "$WORK/pipe.out" \
            || { cat "$WORK/pipe.out" >&2; die "loading the keys into $srv (port $aport): errors"; }
        [[ "$(cl owns "$aport" 0 "$RESHARD_SLOTS" "$aid" && echo yes)" == yes ]] \
            || die "$srv: port $aport does not own slots 0-$((RESHARD_SLOTS - 1))"
        wait_healthy reshard "$srv"   # replicas caught up
        [[ -z "$BROKEN" ]] || die "the $srv cluster is not healthy before the reshard"
    done
    rm -f "$WORK/reshard.resp"
    for ((round = 1; round <= ROUNDS; round++)); do
        order=(cairn redis)
        ((round % 2 == 1)) || order=(redis cairn)
        for srv in "${order[@]}"; do
            [[ -z "${RS_BROKEN[$srv]:-}" ]] || continue
            read -r aport aid < <(cl owner "$(a_live_port "$srv")" 0)
            read -r bport bid < <(cl owner "$(a_live_port "$srv")" 16383)
            [[ "$aid" != "$bid" ]] || die "$srv: slots 0 and 16383 have the same owner"
            reshard_one "$srv" "$round" 0 "$aport" "$aid" "$bport" "$bid"
            [[ -n "$BROKEN" ]] || reshard_one "$srv" "$round" 1 "$bport" "$bid" "$aport" "$aid"
            if [[ $srv == redis && $RESHARD_CROSS == 1 ]]; then   # Cairn's tool, both ways, no load
                [[ -n "$BROKEN" ]] || reshard_one redis "$round" 0 "$aport" "$aid" "$bport" "$bid" cairn
                [[ -n "$BROKEN" ]] || reshard_one redis "$round" 0 "$bport" "$bid" "$aport" "$aid" cairn
            fi
            if [[ -n "$BROKEN" ]]; then RS_BROKEN[$srv]=1; reset_cluster "$srv"; fi
        done
    done
    for label in cairn redis redis/cairn-tool; do
        [[ -z "${RESHARD_CMD[$label]:-}" ]] || echo "    $label: ${RESHARD_CMD[$label]}"
    done
    echo
fi

# ------------------------------------------------------- part 3: throughput --
bench_cmd() {   # bench_cmd PORT PIPE: the redis-benchmark argv, one word per line
    printf '%s\n' redis-benchmark --cluster -h 127.0.0.1 -p "$1" -t set,get -n "$BENCH_N" \
        -r 1000000 -c 50 -P "$2" --csv
}

tput_one() {   # tput_one SERVER PIPE ROUND
    local srv="$1" pipe="$2" round="$3" rc=0 inst cpu0 cpu1 before seed set get
    local -a cmd
    require_running "$srv"
    seed="$(a_live_port "$srv")"
    flush_primaries "$srv"
    before="$(cl primaries "$seed")"
    mapfile -t cmd < <(bench_cmd "$seed" "$pipe")
    cpu0="$(cluster_ticks "$srv")"
    run_bounded "$WORK/bench.out" "$WORK/bench.err" "${cmd[@]}" || rc=$?
    cpu1="$(cluster_ticks "$srv")"
    if [[ $rc -ne 0 ]]; then
        require_running "$srv"
        die "redis-benchmark against the $srv cluster failed (exit $rc)"
    fi
    # "SET","rps","avg","min","p50","p95","p99","max"
    set="$(tr -d '\r' <"$WORK/bench.out" | awk -F'"' '$2 == "SET" { print $4, $10, $14; exit }')"
    get="$(tr -d '\r' <"$WORK/bench.out" | awk -F'"' '$2 == "GET" { print $4, $10, $14; exit }')"
    if [[ -z "$set" || -z "$get" ]]; then
        cat "$WORK/bench.out" "$WORK/bench.err" >&2
        die "no SET/GET line in the redis-benchmark output"
    fi
    if grep -qiE 'error|moved|ask ' "$WORK/bench.err" "$WORK/bench.out"; then
        echo "    note: redis-benchmark printed errors:"
        grep -iE 'error|moved|ask ' "$WORK/bench.err" "$WORK/bench.out" | sort | uniq -c | head -n 5 | sed 's/^/      /'
    fi
    primaries_check throughput "$srv" "$before"
    # CPU of the 6 nodes per request (SET and GET: 2 * BENCH_N requests), microseconds.
    local cpu_us=$(( (cpu1 - cpu0) * 1000000 / CLK_TCK ))
    printf 'tput\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$pipe" "$round" "$set" "$get" "$cpu_us" | tr ' ' '\t' >>"$RESULTS"
    read -r srps _ sp99 <<<"$set"
    read -r grps _ gp99 <<<"$get"
    printf '[round %d/%d] P%-2s %-5s SET %9.0f ops/s (p99 %s ms)  GET %9.0f ops/s (p99 %s ms)  nodes CPU %.2f us/req\n' \
        "$round" "$ROUNDS" "$pipe" "$srv" "$srps" "$sp99" "$grps" "$gp99" \
        "$(awk -v c="$cpu_us" -v n="$BENCH_N" 'BEGIN { printf "%.2f", c / (2 * n) }')"
}

if [[ -n "${WANT[throughput]:-}" ]]; then
    echo "==> throughput of the 3-primary cluster; FLUSHALL on the primaries before each run"
    for pipe in "${PIPES[@]}"; do echo "    $(bench_cmd PORT "$pipe" | paste -sd ' ')"; done
    for ((round = 1; round <= ROUNDS; round++)); do
        order=(cairn redis)
        ((round % 2 == 1)) || order=(redis cairn)
        for pipe in "${PIPES[@]}"; do
            for srv in "${order[@]}"; do tput_one "$srv" "$pipe" "$round"; done
        done
    done
    echo
fi

# ---------------------------------------------------------------- summary --
echo "== Summary"
python3 - "$RESULTS" "$TRIALS" "$REDIS_DEFAULT_TRIALS" "$ROUNDS" "$RESHARD_SLOTS" "$RESHARD_KEYS" \
    "$RESHARD_BYTES" "$LOAD_RATE" "$LOAD_CLIENTS" "$BENCH_N" "$REDIS_FAST_TIMEOUT" <<'EOF'
import statistics, sys
from collections import defaultdict

(_, path, trials, rtrials, rounds, nslots, nkeys, nbytes, rate, clients, bench_n,
 fast) = sys.argv
nslots, nkeys, nbytes, bench_n = int(nslots), int(nkeys), int(nbytes), int(bench_n)
fo, rs, tp = defaultdict(list), defaultdict(list), defaultdict(list)
with open(path) as f:
    for line in f:
        rec = line.rstrip("\n").split("\t")
        if rec[0] == "failover":
            _, variant, trial, secs, rejoin, leader, victim, kvs = rec
            d = dict(x.split("=", 1) for x in kvs.split() if "=" in x)
            fo[variant].append(dict(trial=int(trial), secs=float(secs), rejoin=float(rejoin),
                                    leader=leader, errors=int(d["errors"]),
                                    lost_unconf=int(d["lost_unconfirmed"])))
        elif rec[0] == "reshard":
            _, srv, rnd, load, secs, kvs = rec
            d = dict(x.split("=", 1) for x in kvs.split() if "=" in x)
            rs[(srv, int(load))].append(dict(secs=float(secs), **d))
        elif rec[0] == "tput":
            _, srv, pipe, rnd, srps, sp50, sp99, grps, gp50, gp99, cpu = rec
            tp[(srv, int(pipe))].append(dict(set=float(srps), setp99=float(sp99), get=float(grps),
                                             getp99=float(gp99), cpu=int(cpu) / (2 * bench_n)))
med = statistics.median
ratio = lambda a, b: f"{a / b:.2f}" if b > 0 else "n/a"

if fo:
    print("Failover: SIGKILL of a primary -> first OK write to its slots through redis-py RedisCluster"
          " (seconds)")
    print(f"{'server':<10} {'node timeout':>12} {'trials':>6} {'median s':>9} {'worst s':>8} {'best s':>7}"
          f" {'rejoin s':>9} {'client errors':>13} {'unconfirmed lost':>16}")
    timeouts = {"cairn": "800 ms", f"redis-{fast}": f"{fast} ms", "redis": "15000 ms"}
    for v in ("cairn", f"redis-{fast}", "redis"):
        if v not in fo:
            continue
        t = fo[v]
        s = [x["secs"] for x in t]
        print(f"{v:<10} {timeouts[v]:>12} {len(t):>6} {med(s):>9.3f} {max(s):>8.3f} {min(s):>7.3f}"
              f" {med(x['rejoin'] for x in t):>9.2f} {med(x['errors'] for x in t):>13.0f}"
              f" {sum(x['lost_unconf'] for x in t):>10}/{100 * len(t)}")
    for v in ("cairn", f"redis-{fast}", "redis"):
        if v in fo:
            print(f"  {v} trials: " + " ".join(
                f"{x['secs']:.3f}" + ("L" if x["leader"] == "yes" else "") for x in fo[v]))
    if "cairn" in fo:
        s = [x["secs"] for x in fo["cairn"]]
        led = [x["secs"] for x in fo["cairn"] if x["leader"] == "yes"]
        print(f"  (L: the victim was also the Raft leader; cairn median {med(led):.3f} s over those {len(led)},"
              f" {med([x['secs'] for x in fo['cairn'] if x['leader'] != 'yes']):.3f} s over the others)"
              if led and len(led) < len(s) else "  (L: the victim was also the Raft leader)")
        print(f"  target for cairn: median <= 1 s, worst <= 2 s: "
              f"{'met' if med(s) <= 1 and max(s) <= 2 else 'NOT met'} (median {med(s):.3f}, worst {max(s):.3f})")
    print()

if rs:
    print(f"Reshard: {nslots} slots, {nkeys} keys, {nbytes / 1e6:.1f} MB of keys + values; median of"
          f" {rounds} round(s) (load: {clients} redis-py clients, {rate} req/s together, on those keys)")
    print(f"{'server':<16} {'load':<5} {'seconds':>8} {'keys/s':>8} {'MB/s':>6} {'slots/s':>8}"
          f" {'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8} {'max ms':>7} {'idle p99':>8} {'errors':>6}"
          f" {'missing':>7}")
    row = {}
    for srv in ("cairn", "redis", "redis/cairn-tool"):
        for load in (0, 1):
            runs = rs.get((srv, load))
            if not runs:
                continue
            s = med(r["secs"] for r in runs)
            row[(srv, load)] = s
            lat = ""
            if load:
                g = lambda k: med(float(r[k]) for r in runs)
                lat = (f" {g('during_p50'):>7.2f} {g('during_p99'):>7.2f} {g('during_p999'):>8.2f}"
                       f" {max(float(r['during_max']) for r in runs):>7.1f} {g('idle_p99'):>8.2f}"
                       f" {sum(int(r['errors']) for r in runs):>6} {sum(int(r['missing']) for r in runs):>7}")
            else:
                lat = f" {'-':>7} {'-':>7} {'-':>8} {'-':>7} {'-':>8} {'-':>6} {'-':>7}"
            print(f"{srv:<16} {'yes' if load else 'no':<5} {s:>8.2f} {nkeys / s:>8.0f} {nbytes / s / 1e6:>6.2f}"
                  f" {nslots / s:>8.1f}{lat}")
    for load in (0, 1):
        if ("cairn", load) in row and ("redis", load) in row:
            print(f"  cairn/redis rate, {'under load' if load else 'no load'}:"
                  f" {ratio(row[('redis', load)], row[('cairn', load)])}")
    print("  (latency columns: the load's requests while the reshard ran; 'max' the largest over the rounds;"
          " idle p99: the same load in the seconds before)")
    if ("redis/cairn-tool", 0) in row:
        print("  (redis/cairn-tool: the Redis cluster moved by `cairn cluster reshard`, both directions, no load:"
              " the tools compared on the same server)")
    print()

if tp:
    print(f"Throughput: redis-benchmark --cluster -t set,get -n {bench_n} -r 1000000 -c 50, median of {rounds} round(s)")
    print(f"{'test':<8} {'cairn ops/s':>12} {'redis ops/s':>12} {'cairn/redis':>12} {'cairn p99 ms':>13}"
          f" {'redis p99 ms':>13} {'cairn us/req':>13} {'redis us/req':>13}")
    for pipe in sorted({k[1] for k in tp}):
        for op in ("set", "get"):
            c, r = tp.get(("cairn", pipe)), tp.get(("redis", pipe))
            cv = med(x[op] for x in c) if c else 0
            rv = med(x[op] for x in r) if r else 0
            cp = f"{med(x[op + 'p99'] for x in c):.3f}" if c else "-"
            rp = f"{med(x[op + 'p99'] for x in r):.3f}" if r else "-"
            cc = f"{med(x['cpu'] for x in c):.2f}" if c else "-"
            rc = f"{med(x['cpu'] for x in r):.2f}" if r else "-"
            print(f"{op.upper() + ' P' + str(pipe):<8} {cv:>12.0f} {rv:>12.0f} {ratio(cv, rv):>12}"
                  f" {cp:>13} {rp:>13} {cc:>13} {rc:>13}")
    print("  (us/req: CPU time of the 6 nodes together, user + system, per request of the run, SET and GET)")
EOF
echo
echo "versions: $CAIRN_VERSION; $(redis-server --version)"
[[ -z "${CAIRN_ARGS:-}" ]] || echo "CAIRN_ARGS: $CAIRN_ARGS"
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wall time: $((SECONDS - START_SECONDS)) s"
status=0
if ((${#UNEXPECTED[@]} > 0)); then
    echo
    echo "UNEXPECTED FAILOVERS (a primary replaced while no node was killed):"
    printf '  %s\n' "${UNEXPECTED[@]}"
fi
if ((${#BROKEN_LIST[@]} > 0)); then
    echo
    echo "BROKEN, measuring stopped in these parts:"
    printf '  %s\n' "${BROKEN_LIST[@]}"
    status=1
fi
exit "$status"
