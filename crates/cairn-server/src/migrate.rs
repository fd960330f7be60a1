//! MIGRATE's engine: moving keys to another server (`commands::cluster` parses the
//! command and replies with what this returns).
//!
//! Two steps, as the command runs them. [`take`], while the command runs: each key's DUMP
//! payload and remaining TTL, under its shard's lock, into the pipeline the target will
//! get. [`Batch::send`], after the replies of the commands before it (`Park::Deferred`):
//! the pipeline goes over one connection ([`crate::peer`]); once the target has taken
//! every key, each is removed here only if it is unchanged since it was taken.
//!
//! ```text
//! [AUTH pw | AUTH user pw]  [SELECT db]
//! RESTORE-ASKING key ttl payload [REPLACE]        one per key
//! [ASKING,] APPEND key piece                      per further MB of a big value
//!                                                 (ASKING to a cluster node only)
//! [ASKING,] HPEXPIREAT key ms FIELDS 1 field      per volatile field of a hash
//! ```
//!
//! A write that came in meanwhile is not lost: the key stays and moves on the next pass,
//! replacing the older copy this node sent (`Cluster::sent_before`); a key the target
//! held before the migration still stops the move with BUSYKEY unless REPLACE is given,
//! as in Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_store::ValueRef;
use cairn_store::db::Now;

use crate::peer::{self, Peer};
use crate::server::Server;

/// Values longer than this move in pieces of this size, so that the target never parses
/// one request the size of the key (up to `proto-max-bulk-len`) and serves other clients
/// between pieces.
pub const PIECE: usize = 1 << 20;

/// What MIGRATE was asked to do.
#[derive(Debug)]
pub struct Request {
    /// The target's host and port.
    pub host: String,
    pub port: u16,
    /// The target's database (SELECT when not 0).
    pub db: i64,
    /// Bounds connecting, the write and each reply.
    pub timeout: Duration,
    /// COPY: the keys stay here.
    pub copy: bool,
    /// REPLACE: the target's keys of these names are overwritten.
    pub replace: bool,
    /// AUTH's password, or AUTH2's user name and password.
    pub auth: Option<Vec<Vec<u8>>>,
    /// The keys to move (the key argument, or those after KEYS).
    pub keys: Vec<Vec<u8>>,
}

/// Keys taken from this node, ready to go to the target.
pub struct Batch {
    host: String,
    port: u16,
    timeout: Duration,
    copy: bool,
    /// The database the keys were taken from.
    db: usize,
    /// The pipeline: every command gets one reply.
    commands: Vec<Vec<Vec<u8>>>,
    taken: Vec<Taken>,
}

/// A key taken, with what it held and its deadline when taken, to tell whether it
/// changed since.
type Taken = (Vec<u8>, u128, Option<u64>);

/// What a value held when it was sent, to tell whether it changed since.
fn value_print(value: ValueRef<'_>) -> u128 {
    match value {
        // A collection's payload: the same contents, unchanged since, read the same way.
        ValueRef::Obj(_) => xxhash_rust::xxh3::xxh3_128(&cairn_store::dump::serialize(value)),
        _ => value.with_bytes(xxhash_rust::xxh3::xxh3_128),
    }
}

/// Takes the payloads and remaining TTLs of `request`'s keys in database `db` at `now`;
/// `None` when none of them is there (MIGRATE answers NOKEY).
pub fn take(server: &Server, db: usize, now: Now, request: Request) -> Option<Batch> {
    let Request {
        host,
        port,
        db: target_db,
        timeout,
        copy,
        replace,
        auth,
        keys,
    } = request;
    let mut commands: Vec<Vec<Vec<u8>>> = Vec::new();
    if let Some(a) = auth {
        let mut c = vec![b"AUTH".to_vec()];
        c.extend(a);
        commands.push(c);
    }
    if target_db != 0 {
        commands.push(vec![b"SELECT".to_vec(), target_db.to_string().into_bytes()]);
    }
    let mut taken = Vec::new();
    for key in &keys {
        let slot = cairn_store::key_slot(key);
        let mut shard = server.keyspace.lock(slot);
        let Some(e) = shard.db(db).peek(slot, key, now) else {
            continue;
        };
        let ttl = e
            .expire_at()
            .map_or(0, |at| at.saturating_sub(now.ms).max(1));
        let value = e.value();
        let cluster = server.cluster.get();
        let (payload, pieces) = if value.len() > PIECE {
            value.with_bytes(|b| {
                let first = ValueRef::Str(&b[..PIECE]);
                let mut rest = Vec::new();
                for piece in b[PIECE..].chunks(PIECE) {
                    // A cluster target serves the key's slot only while it is importing,
                    // to a client that asks; a standalone one refuses ASKING.
                    if cluster.is_some() {
                        rest.push(vec![b"ASKING".to_vec()]);
                    }
                    rest.push(vec![b"APPEND".to_vec(), key.clone(), piece.to_vec()]);
                }
                (cairn_store::dump::serialize(first), rest)
            })
        } else {
            (cairn_store::dump::serialize(value), Vec::new())
        };
        if !pieces.is_empty()
            && let Some(cl) = cluster
        {
            // A transfer cut short leaves part of the value on the target: the next pass
            // must replace it.
            cl.remember_sent(slot, key);
        }
        let ours = cluster.is_some_and(|cl| cl.sent_before(slot, key));
        let mut c = vec![
            b"RESTORE-ASKING".to_vec(),
            key.clone(),
            ttl.to_string().into_bytes(),
            payload,
        ];
        if replace || ours {
            c.push(b"REPLACE".to_vec());
        }
        commands.push(c);
        commands.extend(pieces);
        // DUMP's payload (RDB 10, as redis-server 7.0 reads it) has no field times: they
        // follow as HPEXPIREAT, which a target without hash field expiry refuses.
        if let Some(h) = e.object().and_then(cairn_store::Object::as_hash) {
            for (field, at) in h.volatile_fields() {
                if cluster.is_some() {
                    commands.push(vec![b"ASKING".to_vec()]);
                }
                commands.push(vec![
                    b"HPEXPIREAT".to_vec(),
                    key.clone(),
                    at.to_string().into_bytes(),
                    b"FIELDS".to_vec(),
                    b"1".to_vec(),
                    field.to_vec(),
                ]);
            }
        }
        taken.push((key.clone(), value_print(value), e.expire_at()));
    }
    if taken.is_empty() {
        return None;
    }
    Some(Batch {
        host,
        port,
        timeout,
        copy,
        db,
        commands,
        taken,
    })
}

impl Batch {
    /// Sends the batch to the target and, unless COPY, removes here each key unchanged
    /// since it was taken (a changed one is remembered as sent, so the next pass
    /// replaces the target's copy). The status line MIGRATE answers (`OK`), or its error
    /// line: Redis's IOERR lines, or the target's first error relayed.
    pub async fn send(self, server: Arc<Server>) -> Result<String, String> {
        let (delivery, settle) = self.split();
        delivery.run().await?;
        settle.run(&server);
        Ok("OK".to_string())
    }

    /// [`Batch::send`] from synchronous code: MIGRATE inside EXEC, which Redis runs to its
    /// end before the next queued command (blocking its server meanwhile). The transfer
    /// runs on a thread and runtime of its own (this thread's runtime waits here and
    /// cannot drive it) for at most the timeout per step; the removals run here, where
    /// the transaction's hold lends the shards.
    pub fn send_now(self, server: &Server) -> Result<String, String> {
        let (delivery, settle) = self.split();
        let run = move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("IOERR error or timeout connecting to the client: {e}"))?
                .block_on(delivery.run())
        };
        std::thread::Builder::new()
            .name("cairn-migrate".into())
            .spawn(run)
            .map_err(|e| format!("IOERR error or timeout connecting to the client: {e}"))?
            .join()
            .unwrap_or_else(|_| Err("IOERR error or timeout writing to target instance".into()))?;
        settle.run(server);
        Ok("OK".to_string())
    }

    fn split(self) -> (Delivery, Settle) {
        (
            Delivery {
                host: self.host,
                port: self.port,
                timeout: self.timeout,
                commands: self.commands,
            },
            Settle {
                copy: self.copy,
                db: self.db,
                taken: self.taken,
            },
        )
    }
}

/// The network half of a batch: the pipeline and where it goes.
struct Delivery {
    host: String,
    port: u16,
    timeout: Duration,
    commands: Vec<Vec<Vec<u8>>>,
}

impl Delivery {
    /// Sends the pipeline; the target's first error, relayed, fails it.
    async fn run(self) -> Result<(), String> {
        let ioerr = |e: peer::Error| e.ioerr().to_string();
        let mut peer = Peer::connect(&self.host, self.port, self.timeout)
            .await
            .map_err(ioerr)?;
        peer.send_all(&self.commands).await.map_err(ioerr)?;
        let mut first_error = None;
        for _ in 0..self.commands.len() {
            if let Err(e) = peer::text(peer.reply().await.map_err(ioerr)?)
                && first_error.is_none()
            {
                first_error = Some(e);
            }
        }
        match first_error {
            Some(e) => Err(format!("ERR Target instance replied with error: {e}")),
            None => Ok(()),
        }
    }
}

/// The local half: what to remove once the target has every key.
struct Settle {
    copy: bool,
    db: usize,
    taken: Vec<Taken>,
}

impl Settle {
    /// Unless COPY, removes each key unchanged since it was taken; a changed one is
    /// remembered as sent, so the next pass replaces the target's copy.
    fn run(self, server: &Server) {
        if self.copy {
            return;
        }
        let now = server.clock.at(Instant::now());
        for (key, print, deadline) in &self.taken {
            let slot = cairn_store::key_slot(key);
            let mut shard = server.keyspace.lock(slot);
            let db = shard.db(self.db);
            let unchanged = db
                .peek(slot, key, now)
                .is_some_and(|e| e.expire_at() == *deadline && value_print(e.value()) == *print);
            if unchanged {
                db.remove(slot, key, now);
            } else if let Some(cl) = server.cluster.get() {
                cl.remember_sent(slot, key);
            }
        }
    }
}
