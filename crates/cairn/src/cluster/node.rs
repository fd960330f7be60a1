//! One connection to one node and the admin commands the tool sends over it. These are the
//! only commands `cairn cluster` uses, so a server that answers them as Redis does can be
//! driven by it (see docs/cluster-cli.md for the list and the replies relied on).

use std::collections::BTreeMap;
use std::net::ToSocketAddrs;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use redis::FromRedisValue;

use super::topology::{self, NodeEntry};

/// How long to wait for a TCP connection to a node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long any reply may take (MIGRATE sets its own, longer, limit).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connected node.
pub struct Node {
    /// `host:port` as given (by the user or by another node's `CLUSTER NODES`).
    pub addr: String,
    /// The host part of `addr`.
    pub host: String,
    /// The client port.
    pub port: u16,
    /// The node's id, read with CLUSTER MYID on connect.
    pub id: String,
    /// How to connect again (after a signal interrupted a read).
    client: redis::Client,
    /// The one connection to it; commands are sent one at a time.
    conn: redis::Connection,
}

/// A `CLUSTER SETSLOT` subcommand.
#[derive(Debug, Clone)]
pub enum SetSlot<'a> {
    Importing(&'a str),
    Migrating(&'a str),
    Node(&'a str),
    Stable,
}

/// A server's error reply as its text (`BUSYKEY Target key name already exists.`), or the
/// client library's description of any other failure.
pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

impl Node {
    /// Connects to `addr` (`HOST:PORT`) and reads its id.
    pub fn connect(addr: &str) -> anyhow::Result<Node> {
        let (host, port) = topology::split_host_port(addr).map_err(|e| anyhow!(e))?;
        let client = redis::Client::open((host.clone(), port))
            .with_context(|| format!("{addr}: bad address"))?;
        let conn =
            open(&client).map_err(|e| anyhow!("cannot connect to {addr}: {}", error_text(&e)))?;
        let mut node = Node {
            addr: topology::join_host_port(&host, port),
            host,
            port,
            id: String::new(),
            client,
            conn,
        };
        node.id = node.call(&["CLUSTER", "MYID"]).map_err(|e| {
            if e.to_string().contains("cluster support disabled") {
                anyhow!(
                    "{addr} is not running in cluster mode (start it with --cluster-enabled yes)"
                )
            } else {
                e
            }
        })?;
        Ok(node)
    }

    /// The node's IP address as another node must be told it in CLUSTER MEET (a host name
    /// is resolved here, since MEET takes an IP).
    pub fn ip(&self) -> anyhow::Result<String> {
        if self.host.parse::<std::net::IpAddr>().is_ok() {
            return Ok(self.host.clone());
        }
        let sa = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .with_context(|| format!("resolving {}", self.host))?
            .next()
            .ok_or_else(|| anyhow!("{} resolves to no address", self.host))?;
        Ok(sa.ip().to_string())
    }

    /// Sends one command, returning the server's error as it is.
    pub fn query<T: FromRedisValue>(&mut self, args: &[&str]) -> redis::RedisResult<T> {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        self.send(&cmd, CALL_TIMEOUT)
    }

    /// Sends `cmd`, waiting up to `timeout` for the reply. A read on a socket with a
    /// timeout is not restarted after a signal handler ran (signal(7)), so Ctrl-C during a
    /// long operation fails the read with EINTR; the command is then sent again on a new
    /// connection. Every command sent while Ctrl-C is caught (CLUSTER NODES / INFO /
    /// SETSLOT / COUNTKEYSINSLOT / GETKEYSINSLOT, MIGRATE of keys listed just before) has
    /// the same effect sent twice, so that is safe.
    fn send<T: FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
        timeout: Duration,
    ) -> redis::RedisResult<T> {
        let mut tries = 0;
        loop {
            let _ = self.conn.set_read_timeout(Some(timeout));
            let result = cmd.query(&mut self.conn);
            match result {
                Err(e) if interrupted(&e) && tries < 5 => {
                    tries += 1;
                    self.conn = open(&self.client)?;
                }
                result => {
                    if timeout != CALL_TIMEOUT {
                        let _ = self.conn.set_read_timeout(Some(CALL_TIMEOUT));
                    }
                    return result;
                }
            }
        }
    }

    /// Sends one command; an error names the node and the command.
    pub fn call<T: FromRedisValue>(&mut self, args: &[&str]) -> anyhow::Result<T> {
        self.query(args)
            .map_err(|e| anyhow!("{}: {}: {}", self.addr, args.join(" "), error_text(&e)))
    }

    /// `CLUSTER NODES`, parsed. The node's own line gets our address when it has no IP yet
    /// (a fresh Redis node does not know its own).
    pub fn nodes(&mut self) -> anyhow::Result<Vec<NodeEntry>> {
        let text: String = self.call(&["CLUSTER", "NODES"])?;
        let mut entries =
            topology::parse_nodes(&text).map_err(|e| anyhow!("{}: {e}", self.addr))?;
        for e in entries
            .iter_mut()
            .filter(|e| e.is_myself() && e.host.is_empty())
        {
            e.host = self.host.clone();
        }
        Ok(entries)
    }

    /// This node's own line of `CLUSTER NODES`: its slots as it sees them and its markers.
    pub fn myself(&mut self) -> anyhow::Result<NodeEntry> {
        let addr = self.addr.clone();
        self.nodes()?
            .into_iter()
            .find(NodeEntry::is_myself)
            .ok_or_else(|| anyhow!("{addr}: CLUSTER NODES has no myself line"))
    }

    /// `CLUSTER INFO` as `field -> value`.
    pub fn cluster_info(&mut self) -> anyhow::Result<BTreeMap<String, String>> {
        let text: String = self.call(&["CLUSTER", "INFO"])?;
        Ok(parse_fields(&text))
    }

    /// `DBSIZE`.
    pub fn dbsize(&mut self) -> anyhow::Result<u64> {
        self.call(&["DBSIZE"])
    }

    /// `CLUSTER COUNTKEYSINSLOT slot`.
    pub fn count_keys(&mut self, slot: u16) -> anyhow::Result<u64> {
        self.call(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
    }

    /// `CLUSTER GETKEYSINSLOT slot count`; keys are binary.
    pub fn keys_in_slot(&mut self, slot: u16, count: usize) -> anyhow::Result<Vec<Vec<u8>>> {
        self.call(&[
            "CLUSTER",
            "GETKEYSINSLOT",
            &slot.to_string(),
            &count.to_string(),
        ])
    }

    /// `CLUSTER SETSLOT slot IMPORTING|MIGRATING|NODE id` or `... STABLE`.
    pub fn setslot(&mut self, slot: u16, what: SetSlot<'_>) -> anyhow::Result<()> {
        let slot = slot.to_string();
        match what {
            SetSlot::Importing(id) => self.call(&["CLUSTER", "SETSLOT", &slot, "IMPORTING", id]),
            SetSlot::Migrating(id) => self.call(&["CLUSTER", "SETSLOT", &slot, "MIGRATING", id]),
            SetSlot::Node(id) => self.call(&["CLUSTER", "SETSLOT", &slot, "NODE", id]),
            SetSlot::Stable => self.call(&["CLUSTER", "SETSLOT", &slot, "STABLE"]),
        }
    }

    /// `CLUSTER MEET ip port [bus-port]` to make this node meet `other`. The bus port is
    /// given only when `other`'s own `CLUSTER NODES` line shows one that is not the
    /// default (port + 10000), as redis-cli does.
    pub fn meet(&mut self, other: &mut Node) -> anyhow::Result<()> {
        let ip = other.ip()?;
        let port = other.port;
        let bus = other.myself()?.bus_port;
        let port_s = port.to_string();
        match bus {
            Some(b) if b != 0 && u32::from(b) != u32::from(port) + 10000 => {
                self.call(&["CLUSTER", "MEET", &ip, &port_s, &b.to_string()])
            }
            _ => self.call(&["CLUSTER", "MEET", &ip, &port_s]),
        }
    }

    /// `CLUSTER ADDSLOTSRANGE start end [start end ...]`.
    pub fn add_slot_ranges(&mut self, ranges: &[(u16, u16)]) -> anyhow::Result<()> {
        let bounds: Vec<String> = ranges
            .iter()
            .flat_map(|&(a, b)| [a.to_string(), b.to_string()])
            .collect();
        let mut args = vec!["CLUSTER", "ADDSLOTSRANGE"];
        args.extend(bounds.iter().map(String::as_str));
        self.call(&args)
    }

    /// `CLUSTER REPLICATE primary-id`.
    pub fn replicate(&mut self, primary: &str) -> anyhow::Result<()> {
        self.call(&["CLUSTER", "REPLICATE", primary])
    }

    /// Each key's value digest (`DEBUG DIGEST-VALUE`), `None` where the node lacks the key.
    /// DEBUG names no keys, so a node answers for its own copies without redirecting.
    pub fn digests(&mut self, keys: &[Vec<u8>]) -> redis::RedisResult<Vec<Option<Vec<u8>>>> {
        let mut cmd = redis::cmd("DEBUG");
        cmd.arg("DIGEST-VALUE");
        for k in keys {
            cmd.arg(k.as_slice());
        }
        let digests: Vec<String> = self.send(&cmd, CALL_TIMEOUT)?;
        Ok(digests
            .into_iter()
            .map(|d| (!d.bytes().all(|b| b == b'0')).then(|| d.into_bytes()))
            .collect())
    }

    /// Each key's DUMP payload, `None` where the node lacks the key. Each DUMP follows an
    /// ASKING, so a node that holds the slot's keys without owning it (an importer) answers
    /// rather than redirecting; a migrating source answers ASK for a key it no longer has.
    /// For servers that refuse DEBUG (Redis 7's default).
    pub fn dumps(&mut self, keys: &[Vec<u8>]) -> redis::RedisResult<Vec<Option<Vec<u8>>>> {
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let _: () = self.query(&["ASKING"])?;
            let mut cmd = redis::cmd("DUMP");
            cmd.arg(k.as_slice());
            match self.send(&cmd, CALL_TIMEOUT) {
                Ok(payload) => out.push(payload),
                Err(e) if matches!(e.code(), Some("ASK" | "MOVED")) => out.push(None),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// `MIGRATE host port "" 0 timeout [REPLACE] KEYS k1 k2 ...`: the reply (`OK`, or
    /// `NOKEY` when none of the keys was there any more) or the server's error untouched,
    /// so the caller can tell BUSYKEY and TRYAGAIN from the rest.
    pub fn migrate(
        &mut self,
        to: (&str, u16),
        keys: &[Vec<u8>],
        timeout: Duration,
        replace: bool,
    ) -> redis::RedisResult<String> {
        let mut cmd = redis::cmd("MIGRATE");
        cmd.arg(to.0)
            .arg(to.1)
            .arg("")
            .arg(0)
            .arg(timeout.as_millis() as u64);
        if replace {
            cmd.arg("REPLACE");
        }
        cmd.arg("KEYS");
        for k in keys {
            cmd.arg(k.as_slice());
        }
        // The source waits up to `timeout` for the target on each step; leave it room.
        self.send(&cmd, timeout + timeout / 2 + Duration::from_secs(5))
    }
}

/// A connection with the default timeouts.
fn open(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    let conn = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
    conn.set_read_timeout(Some(CALL_TIMEOUT))?;
    conn.set_write_timeout(Some(CALL_TIMEOUT))?;
    Ok(conn)
}

/// Whether a read failed with EINTR (the client library keeps the `io::Error` to itself;
/// its text ends in the errno on every Unix).
fn interrupted(e: &redis::RedisError) -> bool {
    e.is_io_error() && e.to_string().contains("(os error 4)")
}

/// `field:value` lines (CLUSTER INFO, an INFO section).
pub fn parse_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Resolves a node id or a unique prefix of one among `ids`.
pub fn resolve_id<'a>(
    prefix: &str,
    ids: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<String> {
    let matches: Vec<&str> = ids
        .into_iter()
        .filter(|id| id.starts_with(prefix))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.to_string()),
        [] => bail!("no node id starts with {prefix:?}"),
        many => bail!("{prefix:?} is ambiguous: it starts {} node ids", many.len()),
    }
}
