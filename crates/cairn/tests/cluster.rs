//! Cluster mode with real processes: real clients (redis-rs's cluster client,
//! `redis-cli -c`, `redis-cli --cluster check`, redis-py where installed), kill -9,
//! SIGSTOP, restarts.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::cluster::{LocalCluster, cluster_info, conn, nodes_text, until};
use redis::Commands;

/// A hash tag whose slot the node at index `owner` serves (asked of node `ask`).
fn tag_on(c: &LocalCluster, ask: usize, owner: usize) -> String {
    for i in 0..100_000 {
        let tag = format!("t{i}");
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(format!("{{{tag}}}"))
            .query(&mut conn(c.port(ask)))
            .unwrap();
        if c.owner_of(ask, slot) == owner {
            return tag;
        }
    }
    panic!("no tag for node {owner}");
}

fn redis_cli_installed() -> bool {
    let found = std::process::Command::new("redis-cli")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!("redis-cli not installed: its checks skipped");
    }
    found
}

/// redis-cli --cluster create assigns each primary its slots before the nodes meet; a
/// node alone keeps them until it joins, and the join assigns them.
///
/// Ignored: redis-cli has every node meet the first one, and under heavy CPU load two of
/// those MEETs can each start a cluster around the first node (two Raft configurations;
/// seen about once in five runs with two busy loops on two cores, never on an idle
/// machine). `cairn cluster create` (one node meets the others) does not have the race.
/// Run it with `cargo test --test cluster -- --ignored`.
#[test]
#[ignore = "known race in MEET when several lone nodes meet one node (docs/cluster.md)"]
fn redis_cli_cluster_create_builds_a_cluster() {
    if !redis_cli_installed() {
        return;
    }
    // redis-cli installs no cluster secret: the nodes are started with one.
    let c = LocalCluster::start(6, &["--cluster-secret", "the secret of these six nodes"]);
    // A node alone takes and gives back slots, with Redis's errors.
    let mut lone = conn(c.port(0));
    let ok: String = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(10)
        .query(&mut lone)
        .unwrap();
    assert_eq!(ok, "OK");
    assert!(nodes_text(c.port(0)).trim_end().ends_with(" 0-10"));
    let e = redis::cmd("CLUSTER")
        .arg("ADDSLOTS")
        .arg(5)
        .query::<()>(&mut lone)
        .unwrap_err();
    assert!(e.to_string().contains("Slot 5 is already busy"), "{e}");
    let _: () = redis::cmd("CLUSTER")
        .arg("DELSLOTSRANGE")
        .arg(0)
        .arg(10)
        .query(&mut lone)
        .unwrap();
    assert!(nodes_text(c.port(0)).trim_end().ends_with(" connected"));

    // Under `timeout`: redis-cli waits for the nodes to agree without a limit of its own.
    let mut args: Vec<String> = ["120", "redis-cli", "--cluster", "create"]
        .map(String::from)
        .to_vec();
    args.extend((0..6).map(|i| format!("127.0.0.1:{}", c.port(i))));
    args.extend(["--cluster-replicas", "1", "--cluster-yes"].map(String::from));
    let out = std::process::Command::new("timeout")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    c.converged();
    let nodes = nodes_text(c.port(3));
    assert_eq!(nodes.matches("master").count(), 3, "{nodes}");
    assert_eq!(nodes.matches("slave").count(), 3, "{nodes}");
    let mut cc = redis::cluster::ClusterClient::new(c.seeds())
        .unwrap()
        .get_connection()
        .unwrap();
    for i in 0..1000 {
        let _: () = cc.set(format!("k{i}"), i).unwrap();
    }
    for i in (0..1000).step_by(37) {
        let v: u64 = cc.get(format!("k{i}")).unwrap();
        assert_eq!(v, i);
    }
}

#[test]
fn a_six_node_cluster_serves_cluster_clients() {
    let c = LocalCluster::start(6, &[]);
    c.create(3);
    // Roles: three primaries with one replica each.
    let nodes = nodes_text(c.port(0));
    assert_eq!(nodes.matches("master").count(), 3, "{nodes}");
    assert_eq!(nodes.matches("slave").count(), 3, "{nodes}");
    let info = cluster_info(c.port(5));
    assert_eq!(info["cluster_state"], "ok");
    assert_eq!(info["cluster_slots_assigned"], "16384");
    assert_eq!(info["cluster_size"], "3");

    // redis-rs's cluster client: it routes by CLUSTER SLOTS.
    let client = redis::cluster::ClusterClient::new(c.seeds()).unwrap();
    let mut cc = client.get_connection().unwrap();
    for batch in 0..100 {
        let mut p = redis::cluster::cluster_pipe();
        for i in batch * 1000..(batch + 1) * 1000 {
            p.set(format!("key:{i}"), i).ignore();
        }
        p.query::<()>(&mut cc).expect("pipelined writes");
    }
    let mut total = 0;
    for i in 0..3 {
        let n: u64 = redis::cmd("DBSIZE").query(&mut conn(c.port(i))).unwrap();
        assert!(n > 25_000, "keys spread over the primaries: {n}");
        total += n;
    }
    assert_eq!(total, 100_000);
    for i in (0..100_000).step_by(997) {
        let v: u64 = cc.get(format!("key:{i}")).unwrap();
        assert_eq!(v, i);
    }
    // Replicas hold the same keys, and serve them after READONLY.
    until(30, "replicas caught up", || {
        (3..6)
            .map(|i| {
                redis::cmd("DBSIZE")
                    .query::<u64>(&mut conn(c.port(i)))
                    .unwrap()
            })
            .sum::<u64>()
            == 100_000
    });
    let replica_client = redis::cluster::ClusterClient::builder(c.seeds())
        .read_routing_strategy(redis::cluster_read_routing::RandomReplicaStrategy)
        .build()
        .unwrap();
    let mut rc = replica_client.get_connection().unwrap();
    let v: u64 = rc.get("key:42").unwrap();
    assert_eq!(v, 42);
    // A plain connection gets Redis's redirects and errors.
    let mut plain = conn(c.port(0));
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("key:7")
        .query(&mut plain)
        .unwrap();
    let owner = c.owner_of(0, slot);
    if owner != 0 {
        let e = plain.get::<_, Option<String>>("key:7").unwrap_err();
        assert_eq!(e.code(), Some("MOVED"), "{e}");
        assert!(
            e.to_string()
                .contains(&format!("127.0.0.1:{}", c.port(owner))),
            "{e}"
        );
    }
    let e = redis::cmd("MSET")
        .arg("a")
        .arg(1)
        .arg("b")
        .arg(2)
        .query::<()>(&mut plain)
        .unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    // The set commands over several keys too (their keys named as COMMAND INFO names them).
    for args in [
        &["SINTER", "a", "b"][..],
        &["SUNIONSTORE", "{t}d", "{t}a", "b"],
        &["SMOVE", "a", "b", "m"],
        &["SINTERCARD", "2", "a", "b"],
    ] {
        let e = redis::cmd(args[0])
            .arg(&args[1..])
            .query::<redis::Value>(&mut plain)
            .unwrap_err();
        assert_eq!(e.code(), Some("CROSSSLOT"), "{args:?}: {e}");
    }
    let e = redis::cmd("SELECT")
        .arg(1)
        .query::<()>(&mut plain)
        .unwrap_err();
    assert!(e.to_string().contains("not allowed in cluster mode"), "{e}");
    // redis-cli -c follows the redirects; redis-cli --cluster check parses CLUSTER NODES.
    if redis_cli_installed() {
        let out = std::process::Command::new("redis-cli")
            .args(["-c", "-p", &c.port(0).to_string(), "get", "key:12345"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "12345");
        let out = std::process::Command::new("redis-cli")
            .args(["--cluster", "check", &format!("127.0.0.1:{}", c.port(1))])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
        assert!(
            text.contains("[OK] All nodes agree about slots configuration."),
            "{text}"
        );
    }
    // redis-py's cluster client parses CLUSTER SLOTS/SHARDS its own way.
    let script = format!(
        "import redis\nfrom redis.cluster import RedisCluster\n\
         rc = RedisCluster(host='127.0.0.1', port={})\n\
         assert rc.get('key:777') == b'777', rc.get('key:777')\n\
         shards = redis.Redis(port={}).execute_command('CLUSTER', 'SHARDS')\n\
         assert len(shards) == 3, shards\n\
         print('ok')\n",
        c.port(2),
        c.port(2)
    );
    match std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
    {
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named 'redis'") => {
            eprintln!("redis-py not installed: its checks skipped")
        }
        Ok(out) => assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ok",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => eprintln!("python3 not installed: redis-py's checks skipped"),
    }
}

#[test]
fn a_killed_primary_is_failed_over_and_acknowledged_writes_survive() {
    let mut c = LocalCluster::start(6, &[]);
    c.create(3);
    let victim = 1;
    let tag = tag_on(&c, 0, victim);
    // Writes acknowledged by a replica (WAIT 1) on the primary we will kill.
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let direct = {
        let (acked, stop, port, tag) = (acked.clone(), stop.clone(), c.port(victim), tag.clone());
        std::thread::spawn(move || {
            let mut p = conn(port);
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("{{{tag}}}:{i}");
                if p.set::<_, _, ()>(&key, i).is_err() {
                    break;
                }
                match redis::cmd("WAIT").arg(1).arg(1000).query::<i64>(&mut p) {
                    Ok(1) => acked.lock().unwrap().push(key),
                    Ok(_) => {}
                    Err(_) => break,
                }
                i += 1;
            }
        })
    };
    // A cluster client writing all over the keyspace, across the failover.
    let written = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let general = {
        let (stop, written, errors, seeds) =
            (stop.clone(), written.clone(), errors.clone(), c.seeds());
        std::thread::spawn(move || {
            let client = redis::cluster::ClusterClient::builder(seeds)
                .retries(20)
                .build()
                .unwrap();
            let mut cc = client.get_connection().unwrap();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                match cc.set::<_, _, ()>(format!("load:{i}"), i) {
                    Ok(()) => {
                        written.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                i += 1;
            }
        })
    };
    until(30, "writes are flowing", || {
        acked.lock().unwrap().len() > 50 && written.load(Ordering::SeqCst) > 200
    });
    c.kill(victim);
    // Its replica (node 4: replicas go round robin) takes over.
    until(30, "the replica is promoted", || {
        c.role_of(0, 4) == "master"
    });
    let after_kill = written.load(Ordering::SeqCst);
    until(60, "the cluster client recovered by itself", || {
        written.load(Ordering::SeqCst) > after_kill + 500
    });
    stop.store(true, Ordering::SeqCst);
    direct.join().unwrap();
    general.join().unwrap();
    c.converged();
    let client = redis::cluster::ClusterClient::new(
        c.seeds()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .map(|(_, s)| s)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut cc = client.get_connection().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50);
    for key in &acked {
        let v: Option<u64> = cc.get(key).unwrap();
        assert!(
            v.is_some(),
            "{key} was acknowledged by a replica and is gone"
        );
    }
    eprintln!(
        "{} WAIT-acknowledged keys all present; cluster client: {} writes, {} errors during the failover",
        acked.len(),
        written.load(Ordering::SeqCst),
        errors.load(Ordering::SeqCst)
    );
}

#[test]
fn a_frozen_primary_acknowledges_nothing_after_its_lease_and_rejoins_as_a_replica() {
    use std::io::{Read, Write};
    let c = LocalCluster::start(6, &[]);
    c.create(3);
    let victim = 2;
    let tag = tag_on(&c, 0, victim);
    let mut p = conn(c.port(victim));
    p.set::<_, _, ()>(format!("{{{tag}}}:before"), 1)
        .unwrap_or_else(|e| panic!("{e}\n{}", nodes_text(c.port(0))));
    let n: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut p).unwrap();
    assert_eq!(n, 1);
    let mut raw = std::net::TcpStream::connect(c.addr(victim)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // Freeze it past the node timeout: the others fail it over (its replica is node 5).
    c.signal(victim, "-STOP");
    until(30, "the replica is promoted", || {
        c.role_of(0, 5) == "master"
    });
    // A write that waited in its socket while it was frozen.
    raw.write_all(format!("SET {{{tag}}}:late 1\r\n").as_bytes())
        .unwrap();
    c.signal(victim, "-CONT");
    let mut reply = [0u8; 256];
    let n = raw.read(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]).to_string();
    assert!(
        reply.starts_with("-CLUSTERDOWN") || reply.starts_with("-MOVED"),
        "a primary past its lease must not take the write: {reply}"
    );
    // It learns the new configuration and follows the new primary.
    until(30, "the old primary is a replica now", || {
        c.role_of(victim, victim) == "slave"
    });
    until(30, "its link is up", || {
        let text: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut conn(c.port(victim)))
            .unwrap_or_default();
        text.contains("master_link_status:up")
    });
    let client = redis::cluster::ClusterClient::new(c.seeds()).unwrap();
    let mut cc = client.get_connection().unwrap();
    let late: Option<u64> = cc.get(format!("{{{tag}}}:late")).unwrap();
    assert_eq!(late, None, "the refused write is nowhere");
    let before: Option<u64> = cc.get(format!("{{{tag}}}:before")).unwrap();
    assert_eq!(before, Some(1));
}

#[test]
fn the_configuration_survives_losing_voters_the_leader_and_a_full_restart() {
    let mut c = LocalCluster::start(6, &[]);
    c.create(3);
    let leader_name = cluster_info(c.port(0))["cairn_raft_leader"].clone();
    let leader = (0..6)
        .find(|&i| common::cluster::myid(c.port(i)) == leader_name)
        .expect("a leader");
    // A voter that is not the leader dies: changes still commit.
    let other_voter = (0..6).find(|&i| i != leader && i < 5).unwrap();
    c.kill(other_voter);
    let survivor = (0..6).find(|&i| c.nodes[i].is_some()).unwrap();
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(0)
        .arg("STABLE")
        .query(&mut conn(c.port(survivor)))
        .expect("a change commits without one voter");
    // The leader dies too: a new one is elected and still commits.
    c.kill(leader);
    let survivor = (0..6).find(|&i| c.nodes[i].is_some()).unwrap();
    until(30, "a new leader", || {
        let l = cluster_info(c.port(survivor))
            .get("cairn_raft_leader")
            .cloned()
            .unwrap_or_default();
        !l.is_empty() && l != "-" && l != leader_name
    });
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(1)
        .arg("STABLE")
        .query(&mut conn(c.port(survivor)))
        .expect("a change commits under the new leader");
    // Bring both back, then stop everything and start it again.
    c.restart(other_voter);
    c.restart(leader);
    c.converged();
    let before = nodes_text(c.port(0))
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{} {} {}", f[0], f[3], f[8..].join(" "))
        })
        .collect::<std::collections::BTreeSet<_>>();
    for i in 0..6 {
        c.kill(i);
    }
    for i in 0..6 {
        c.restart(i);
    }
    c.converged();
    let after = nodes_text(c.port(3))
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            format!("{} {} {}", f[0], f[3], f[8..].join(" "))
        })
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(before, after, "the committed configuration came back");
    let client = redis::cluster::ClusterClient::new(c.seeds()).unwrap();
    let mut cc = client.get_connection().unwrap();
    let _: () = cc.set("after-restart", 1).unwrap();
}

#[test]
fn resharding_a_third_of_the_slots_under_load_loses_nothing_and_shows_no_errors() {
    let c = LocalCluster::start(3, &[]);
    c.create(3);
    let client = redis::cluster::ClusterClient::new(c.seeds()).unwrap();
    let mut cc = client.get_connection().unwrap();
    for batch in 0..20 {
        let mut p = redis::cluster::cluster_pipe();
        for i in batch * 1000..(batch + 1) * 1000 {
            p.set(format!("k:{i}"), i).ignore();
        }
        p.query::<()>(&mut cc).unwrap();
    }
    // A reader-writer that checks every read against its own last write.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, seeds) = (stop.clone(), c.seeds());
        let ports = c.ports.clone();
        std::thread::spawn(move || {
            let client = redis::cluster::ClusterClient::new(seeds).unwrap();
            let mut cc = client.get_connection().unwrap();
            let mut last = std::collections::HashMap::new();
            let (mut ops, mut errors) = (0u64, Vec::new());
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("k:{}", (i * 7919) % 20_000);
                let r = if i.is_multiple_of(2) {
                    cc.set::<_, _, ()>(&key, i).map(|()| {
                        last.insert(key.clone(), i);
                    })
                } else {
                    cc.get::<_, Option<u64>>(&key).map(|v| {
                        if let Some(&w) = last.get(&key) {
                            assert_eq!(v, Some(w), "{key}: a read lost the last write");
                        }
                    })
                };
                if let Err(e) = r {
                    // What each node said about the slot, for the report.
                    let slot: u16 = redis::cmd("CLUSTER")
                        .arg("KEYSLOT")
                        .arg(&key)
                        .query(&mut cc)
                        .unwrap_or(0);
                    let views: Vec<String> = ports
                        .iter()
                        .map(|&p| {
                            let text = common::cluster::nodes_text(p);
                            format!(
                                "{p}: {}",
                                text.lines()
                                    .filter(|l| l.contains("master"))
                                    .collect::<Vec<_>>()
                                    .join(" | ")
                            )
                        })
                        .collect();
                    errors.push(format!("{e} (slot {slot}) {views:?}"));
                }
                ops += 1;
                i += 1;
            }
            (ops, errors, last)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    // The first primary's slots, a third of them all, go to the second, eight at a time
    // (as `cairn cluster reshard` pipelines them).
    std::thread::scope(|scope| {
        for t in 0..8u16 {
            let (src, dst) = (c.port(0), c.port(1));
            scope.spawn(move || {
                for slot in (t..5461u16).step_by(8) {
                    common::cluster::move_slot(slot, src, dst);
                }
            });
        }
    });
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (ops, errors, last) = load.join().unwrap();
    assert!(
        errors.is_empty(),
        "{} client errors, first: {:?}",
        errors.len(),
        errors.first()
    );
    c.converged();
    let n0: u64 = redis::cmd("DBSIZE").query(&mut conn(c.port(0))).unwrap();
    assert_eq!(n0, 0, "the source holds nothing after the move");
    let client = redis::cluster::ClusterClient::new(c.seeds()).unwrap();
    let mut cc = client.get_connection().unwrap();
    for i in 0..20_000u64 {
        let key = format!("k:{i}");
        let v: Option<u64> = cc.get(&key).unwrap();
        assert_eq!(v, Some(*last.get(&key).unwrap_or(&i)), "{key}");
    }
    eprintln!("moved 5461 slots in {took:?} under {ops} client operations, no errors");
}

#[test]
fn a_manual_failover_loses_no_acknowledged_write() {
    let c = LocalCluster::start(6, &[]);
    c.create(3);
    let (primary, replica) = (0, 3);
    let tag = tag_on(&c, 1, primary);
    // A writer on the primary itself, recording every write it was told OK for.
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, port, tag) = (acked.clone(), stop.clone(), c.port(primary), tag.clone());
        std::thread::spawn(move || {
            let mut p = conn(port);
            let mut refused = 0;
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("{{{tag}}}:{i}");
                match p.set::<_, _, ()>(&key, i) {
                    Ok(()) => acked.lock().unwrap().push(key),
                    Err(e) => {
                        assert!(
                            matches!(
                                e.code(),
                                Some("MOVED") | Some("READONLY") | Some("CLUSTERDOWN")
                            ),
                            "{e}"
                        );
                        refused += 1;
                    }
                }
                i += 1;
            }
            refused
        })
    };
    until(30, "writes are flowing", || {
        acked.lock().unwrap().len() > 200
    });
    // The replica asks for it: the primary holds writes until the replica has them all.
    let _: () = redis::cmd("CLUSTER")
        .arg("FAILOVER")
        .query(&mut conn(c.port(replica)))
        .expect("CLUSTER FAILOVER");
    assert_eq!(c.role_of(replica, replica), "master");
    until(30, "the old primary is told it is a replica", || {
        c.role_of(primary, primary) == "slave"
    });
    until(30, "the writer is redirected", || {
        let mut p = conn(c.port(primary));
        p.set::<_, _, ()>(format!("{{{tag}}}:probe"), 1).is_err()
    });
    stop.store(true, Ordering::SeqCst);
    let refused = writer.join().unwrap();
    // Every write the old primary acknowledged is on the new one.
    let mut n = conn(c.port(replica));
    let acked = acked.lock().unwrap().clone();
    for key in &acked {
        let v: Option<u64> = n.get(key).unwrap();
        assert!(v.is_some(), "{key} was acknowledged and is gone");
    }
    eprintln!(
        "{} acknowledged writes kept, {refused} refused after the switch",
        acked.len()
    );
    // Wrong uses get Redis's errors.
    let e = redis::cmd("CLUSTER")
        .arg("FAILOVER")
        .query::<()>(&mut conn(c.port(1)))
        .unwrap_err();
    assert!(
        e.to_string().contains("send CLUSTER FAILOVER to a replica"),
        "{e}"
    );
}

/// Three primaries of a 3+3 cluster killed one after another, each after the previous
/// failover: every one is replaced. The voters that die are replaced by live nodes, so a
/// majority of live voters remains (docs/cluster.md: what the cluster survives).
#[test]
fn primaries_killed_one_after_another_are_each_failed_over() {
    let mut c = LocalCluster::start(6, &[]);
    c.create(3);
    // A cluster client seeded with the nodes still running.
    let client = |c: &LocalCluster| {
        let live: Vec<String> = (0..6)
            .filter(|&i| c.nodes[i].is_some())
            .map(|i| format!("redis://127.0.0.1:{}", c.port(i)))
            .collect();
        redis::cluster::ClusterClient::builder(live)
            .retries(20)
            .build()
            .unwrap()
            .get_connection()
            .unwrap()
    };
    for victim in 0..3 {
        // Replicas go round robin: node 3 replicates 0, 4 replicates 1, 5 replicates 2.
        let replica = victim + 3;
        let tag = tag_on(&c, replica, victim);
        let key = format!("{{{tag}}}:before-{victim}");
        let _: () = client(&c).set(&key, victim).unwrap();
        let _: i64 = redis::cmd("WAIT")
            .arg(1)
            .arg(5000)
            .query(&mut conn(c.port(victim)))
            .unwrap();
        c.kill(victim);
        until(
            30,
            &format!("node {replica} takes over from node {victim}"),
            || c.role_of(replica, replica) == "master",
        );
        c.converged();
        let v: Option<usize> = client(&c).get(&key).unwrap();
        assert_eq!(v, Some(victim), "{key} survived the failover");
        let info = cluster_info(c.port(replica));
        eprintln!(
            "node {victim} killed, node {replica} promoted; voters now {}",
            info["cairn_voters"]
        );
    }
    // Every slot is served by the three promoted replicas.
    let mut cc = client(&c);
    for i in 0..300 {
        let _: () = cc.set(format!("after:{i}"), i).unwrap();
    }
}

/// A client blocked on a key is served in a cluster like anywhere else, is refused with
/// CROSSSLOT for keys of two slots, and, when its key's slot moves to another node, gets
/// the redirect that sends its cluster client there (a blocked BZPOPMIN and XREADGROUP
/// too; a big sorted set, and a stream with its group's pending entries, arrive whole).
#[test]
fn a_blocked_pop_follows_its_slot_to_another_node() {
    let c = LocalCluster::start(3, &[]);
    c.create(3);
    let tag = tag_on(&c, 0, 0);
    let key = format!("{{{tag}}}:jobs");
    let other = format!("{{{}}}:x", tag_on(&c, 0, 1));
    let mut admin = conn(c.port(0));
    let e = redis::cmd("BLPOP")
        .arg(&key)
        .arg(&other)
        .arg(1)
        .query::<redis::Value>(&mut admin)
        .unwrap_err();
    assert_eq!(e.code(), Some("CROSSSLOT"), "{e}");
    let blocked = |admin: &mut redis::Connection, n: i64| {
        until(10, &format!("{n} blocked"), || {
            let text: String = redis::cmd("INFO").arg("clients").query(admin).unwrap();
            text.contains(&format!("blocked_clients:{n}\r"))
        });
    };
    // Served on the owner.
    let port = c.port(0);
    let k = key.clone();
    let served = std::thread::spawn(move || {
        redis::cmd("BLPOP")
            .arg(&k)
            .arg(0)
            .query::<(String, String)>(&mut conn(port))
    });
    blocked(&mut admin, 1);
    let _: i64 = admin.rpush(&key, "job").unwrap();
    assert_eq!(served.join().unwrap().unwrap(), (key.clone(), "job".into()));
    // Blocked while its slot moves: MOVED to the new owner.
    let k = key.clone();
    let moved = std::thread::spawn(move || {
        redis::cmd("BLPOP")
            .arg(&k)
            .arg(0)
            .query::<redis::Value>(&mut conn(port))
    });
    blocked(&mut admin, 1);
    // A sorted-set pop blocked in the same slot, and a big sorted set that moves with it
    // (in steps: a RESTORE, then ZADDs).
    let zkey = format!("{{{tag}}}:queue");
    let zmoved = std::thread::spawn(move || {
        redis::cmd("BZPOPMIN")
            .arg(&zkey)
            .arg(0)
            .query::<redis::Value>(&mut conn(port))
    });
    blocked(&mut admin, 2);
    // A stream with a group and pending entries in the same slot, and a consumer blocked
    // reading through the group: the stream arrives whole, groups and all.
    let events = format!("{{{tag}}}:events");
    let _: String = redis::cmd("XADD")
        .arg(&events)
        .arg("1-1")
        .arg("f")
        .arg("v")
        .query(&mut admin)
        .unwrap();
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&events)
        .arg("g")
        .arg("0")
        .query(&mut admin)
        .unwrap();
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("alice")
        .arg("STREAMS")
        .arg(&events)
        .arg(">")
        .query(&mut admin)
        .unwrap();
    let ekey = events.clone();
    let xmoved = std::thread::spawn(move || {
        redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg("bob")
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg(&ekey)
            .arg(">")
            .query::<redis::Value>(&mut conn(port))
    });
    blocked(&mut admin, 3);
    let pending = |c: &mut redis::Connection| -> redis::Value {
        redis::cmd("XPENDING")
            .arg(&events)
            .arg("g")
            .query(c)
            .unwrap()
    };
    let want_pending = pending(&mut admin);
    let board = format!("{{{tag}}}:board");
    for chunk in (0..3000u32).collect::<Vec<_>>().chunks(500) {
        let mut z = redis::cmd("ZADD");
        z.arg(&board);
        for i in chunk {
            z.arg(f64::from(*i) / 4.0).arg(format!("player:{i}"));
        }
        let _: i64 = z.query(&mut admin).unwrap();
    }
    let want: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(&board)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut admin)
        .unwrap();
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(&key)
        .query(&mut admin)
        .unwrap();
    c.move_slot(slot, 0, 1);
    // MOVED, or ASK within the two seconds after a handover in which the former owner
    // answers ASK (docs/cluster.md): either sends the client to the new owner.
    for e in [
        moved.join().unwrap().unwrap_err(),
        zmoved.join().unwrap().unwrap_err(),
        xmoved.join().unwrap().unwrap_err(),
    ] {
        assert!(matches!(e.code(), Some("MOVED" | "ASK")), "{e}");
        assert!(e.to_string().contains(&c.port(1).to_string()), "{e}");
    }
    blocked(&mut admin, 0);
    let got: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(&board)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query(&mut conn(c.port(1)))
        .unwrap();
    assert_eq!(got, want);
    assert_eq!(pending(&mut conn(c.port(1))), want_pending);
}
