//! Three cluster nodes in one process, on real sockets: they meet, agree on a
//! configuration through Raft, and a change proposed anywhere reaches everyone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_cluster::bus::{Client, Credentials, DEFAULT_MAX_FRAME, Local, Request, Response};
use cairn_cluster::{Change, ClusterNode, Host, Options, Role};

struct NoData;
impl Host for NoData {
    fn repl_offset(&self) -> u64 {
        0
    }
    fn synced(&self) -> bool {
        false
    }
}

const SECRET: &[u8] = b"the secret these three nodes share";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(dir: &std::path::Path) -> Arc<ClusterNode> {
    let opts = Options {
        dir: dir.to_path_buf(),
        host: "127.0.0.1".into(),
        port: free_port(),
        bus_port: free_port(),
        bus_bind: vec!["127.0.0.1".into()],
        node_timeout: Duration::from_millis(1000),
        secret: Some(SECRET.to_vec()),
        max_frame: DEFAULT_MAX_FRAME,
    };
    ClusterNode::start(opts, Arc::new(NoData))
        .await
        .expect("start")
}

fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn nodes_meet_and_agree_on_the_configuration() {
    let base = std::env::temp_dir().join(format!("cairn-cluster-3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let nodes: Vec<Arc<ClusterNode>> = rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..3 {
            v.push(start(&base.join(i.to_string())).await);
        }
        v
    });
    rt.block_on(async {
        for n in &nodes[1..] {
            let o = n.options();
            nodes[0]
                .meet(o.host.clone(), o.bus_port)
                .await
                .expect("meet");
        }
    });
    until("every node knows all three", || {
        nodes.iter().all(|n| n.config().nodes.len() == 3)
    });
    until("three voters", || nodes[0].voters().len() == 3);
    // A change proposed on a follower is forwarded to the leader and reaches everyone.
    let follower = nodes
        .iter()
        .find(|n| n.leader() != Some(n.me))
        .expect("a follower");
    let owner = nodes[2].me;
    rt.block_on(async {
        follower
            .propose(Change::AssignSlots {
                node: owner,
                ranges: vec![(0, 16383)],
            })
            .await
            .expect("assign")
    });
    until("the slots are assigned everywhere", || {
        nodes.iter().all(|n| n.config().owner(100) == Some(owner))
    });
    // A refused change gets its error back, wherever it was proposed.
    let e = rt
        .block_on(nodes[1].propose(Change::Replicate {
            node: owner,
            primary: nodes[0].me,
        }))
        .unwrap_err();
    assert!(e.contains("empty"), "{e}");
    rt.block_on(nodes[1].propose(Change::Replicate {
        node: nodes[1].me,
        primary: owner,
    }))
    .expect("replicate");
    until("the replica is known everywhere", || {
        nodes.iter().all(|n| {
            n.config().node(nodes[1].me).map(|x| x.role) == Some(Role::Replica { of: owner })
        })
    });
    // A peer that proves the secret but is no member of the configuration can neither
    // change it nor join under another node's name.
    let leader = nodes
        .iter()
        .find(|n| n.leader() == Some(n.me))
        .expect("a leader");
    let bus = format!("127.0.0.1:{}", leader.options().bus_port);
    let outsider = Arc::new(Local {
        credentials: Credentials::new("f".repeat(40), Some(SECRET.to_vec())),
        max_frame: DEFAULT_MAX_FRAME.into(),
    });
    let client = Client::new(bus.clone(), outsider.clone());
    let before = leader.config();
    let reply = rt
        .block_on(client.call(
            &Request::Propose(Change::UnassignSlots {
                ranges: vec![(0, 16383)],
            }),
            Duration::from_secs(5),
        ))
        .expect("an answer");
    match reply {
        Response::Committed(Err(e)) => assert!(e.contains("not a member"), "{e}"),
        other => panic!("a non-member's proposal was not refused: {other:?}"),
    }
    let mut impostor = leader.config().node(nodes[1].me).expect("node 1").clone();
    impostor.bus_port = 1;
    let reply = rt
        .block_on(client.call(
            &Request::Join {
                node: impostor,
                claimed: Vec::new(),
            },
            Duration::from_secs(5),
        ))
        .expect("an answer");
    match reply {
        Response::Done(Err(e)) => assert!(e.contains("as another node"), "{e}"),
        other => panic!("a join under another name was not refused: {other:?}"),
    }
    assert_eq!(leader.config(), before, "nothing changed");
    assert!(leader.bus_stats().refused_requests >= 2);
    // The wrong secret gets no further than the handshake.
    let stranger = Arc::new(Local {
        credentials: Credentials::new("e".repeat(40), Some(b"not the secret at all".to_vec())),
        max_frame: DEFAULT_MAX_FRAME.into(),
    });
    let e = rt
        .block_on(Client::new(bus, stranger).call(&Request::Hello, Duration::from_secs(5)))
        .unwrap_err();
    assert!(e.to_string().contains("secrets differ"), "{e}");
    let _ = std::fs::remove_dir_all(&base);
}
