//! The cluster bus admits only nodes that prove the cluster secret: what a stranger who
//! reaches the bus port can do (nothing), and what an operator sees when secrets are
//! missing or differ. Real processes, raw sockets for the stranger.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::cluster::{LocalCluster, cluster_info, conn, myid, until};

fn info_cluster(port: u16) -> String {
    redis::cmd("INFO")
        .arg("cluster")
        .query(&mut conn(port))
        .unwrap()
}

fn field(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .parse()
        .unwrap()
}

/// A frame as the bus carried them before the handshake: 4-byte length, JSON.
fn frame(json: &str) -> Vec<u8> {
    let mut f = (json.len() as u32).to_le_bytes().to_vec();
    f.extend_from_slice(json.as_bytes());
    f
}

/// Reads until the server closes the connection; panics if it is still open after 20 s
/// (a hang guard). Returns what the server sent first.
fn closed_by_server(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
}

fn node_id(port: u16) -> u64 {
    u64::from_str_radix(&myid(port)[..16], 16).unwrap()
}

#[test]
fn a_stranger_on_the_bus_port_changes_nothing() {
    let c = LocalCluster::start(3, &[]);
    c.create(3);
    let bus = c.port(0) + 10000;
    let victim = node_id(c.port(1));
    let leader_bus = c.port(0) + 10000;
    // The attacks the issue found: slots taken away from everyone, and a node's address
    // moved to one of the sender's choosing, each committed from a hand-written frame.
    let attacks = [
        r#"{"Propose":{"UnassignSlots":{"ranges":[[0,16383]]}}}"#.to_string(),
        format!(
            r#"{{"Propose":{{"SetAddress":{{"node":{victim},"host":"127.0.0.1","port":1,"bus_port":2}}}}}}"#
        ),
    ];
    for attack in &attacks {
        let mut s = TcpStream::connect(("127.0.0.1", leader_bus)).unwrap();
        s.write_all(&frame(attack)).unwrap();
        let reply = closed_by_server(&mut s);
        assert!(
            !String::from_utf8_lossy(&reply).contains("Committed"),
            "the bus answered a stranger's proposal: {}",
            String::from_utf8_lossy(&reply)
        );
    }
    // A frame announcing 64 MiB, its body streaming in: refused before any of it is kept.
    let mut s = TcpStream::connect(("127.0.0.1", bus)).unwrap();
    s.write_all(&(64u32 << 20).to_le_bytes()).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let started = Instant::now();
    let mut sent = 0usize;
    while started.elapsed() < Duration::from_secs(20) && s.write_all(&chunk).is_ok() {
        sent += chunk.len();
    }
    // What the sockets' buffers take before the server's reset arrives, no more.
    assert!(
        sent < 16 << 20,
        "the bus read {sent} bytes of a stranger's 64 MiB frame"
    );
    // A connection that says nothing is closed after the handshake deadline.
    let mut idle = TcpStream::connect(("127.0.0.1", bus)).unwrap();
    closed_by_server(&mut idle);
    // A hundred connections at once: those past the handshake limit are turned away at
    // once, and counted.
    let flood: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(("127.0.0.1", bus)).unwrap())
        .collect();
    until(30, "refused connections are counted", || {
        field(&info_cluster(c.port(0)), "cairn_bus_refused_connections") > 0
    });
    drop(flood);
    // Nothing changed: every slot served, every node where it was.
    for i in 0..3 {
        let info = cluster_info(c.port(i));
        assert_eq!(info["cluster_state"], "ok", "node {i}: {info:?}");
        assert_eq!(info["cluster_slots_assigned"], "16384");
    }
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut conn(c.port(2)))
        .unwrap();
    assert!(
        nodes.contains(&format!("127.0.0.1:{}@{}", c.port(1), c.port(1) + 10000)),
        "{nodes}"
    );
    let info = info_cluster(c.port(0));
    assert!(field(&info, "cairn_bus_refused_handshakes") >= 4, "{info}");
    // The cluster still works for its clients.
    let client = redis::cluster::ClusterClient::new(c.seeds()).unwrap();
    let mut cc = client.get_connection().unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut cc).unwrap();
}

#[test]
fn nodes_meet_only_with_the_same_secret() {
    let secret = "one secret for these nodes";
    let a = common::CairnProcess::start(&["--cluster-enabled", "yes", "--cluster-secret", secret]);
    let b = common::CairnProcess::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-secret",
        "another secret, not theirs",
    ]);
    let none = common::CairnProcess::start(&["--cluster-enabled", "yes"]);
    let meet = |from: &common::CairnProcess, to: &common::CairnProcess| {
        let port = to.addr.port();
        redis::cmd("CLUSTER")
            .arg("MEET")
            .arg("127.0.0.1")
            .arg(port)
            .arg(port + 10000)
            .query::<()>(&mut conn(from.addr.port()))
    };
    let e = meet(&a, &b).unwrap_err().to_string();
    assert!(e.contains("cluster secrets differ"), "{e}");
    let e = meet(&a, &none).unwrap_err().to_string();
    assert!(e.contains("the other node has no cluster-secret"), "{e}");
    let e = meet(&none, &a).unwrap_err().to_string();
    assert!(e.contains("this node has no cluster-secret"), "{e}");
    // A secret set at run time is enough, and too short a one is refused.
    let mut n = conn(none.addr.port());
    let e = redis::cmd("CONFIG")
        .arg("SET")
        .arg("cluster-secret")
        .arg("short")
        .query::<()>(&mut n)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least 16 characters"), "{e}");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("cluster-secret")
        .arg(secret)
        .query(&mut n)
        .unwrap();
    meet(&a, &none).expect("the same secret meets");
    until(30, "they know each other", || {
        cluster_info(a.addr.port())["cluster_known_nodes"] == "2"
            && cluster_info(none.addr.port())["cluster_known_nodes"] == "2"
    });
    let refused = field(&info_cluster(b.addr.port()), "cairn_bus_refused_handshakes");
    assert!(refused >= 1, "b counted a's attempt with the wrong secret");
}

/// `cairn cluster create` installs one secret on nodes that have none; each keeps it in
/// its directory, so a node restarted without any setting still talks to the others.
#[test]
fn the_secret_create_installs_survives_a_restart() {
    let mut c = LocalCluster::start(3, &[]);
    c.create(3);
    let secrets: Vec<String> = (0..3)
        .map(|i| {
            let v: Vec<String> = redis::cmd("CONFIG")
                .arg("GET")
                .arg("cluster-secret")
                .query(&mut conn(c.port(i)))
                .unwrap();
            v[1].clone()
        })
        .collect();
    assert_eq!(secrets[0].len(), 64, "{secrets:?}");
    assert!(secrets.iter().all(|s| *s == secrets[0]));
    c.kill(2);
    c.restart(2);
    c.converged();
    let info = info_cluster(c.port(2));
    assert_eq!(field(&info, "cairn_bus_secret_set"), 1, "{info}");
}
