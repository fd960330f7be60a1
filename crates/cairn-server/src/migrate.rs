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
//! ```
//!
//! A collection of more than [`STEP`] elements moves in steps instead, while the batch
//! is sent: a RESTORE of its first step's elements, then `[ASKING,] HSET`/`SADD`/`RPUSH`
//! of the next [`STEP`] (a SCAN step each, or a range of a list's indexes, under the
//! shard's lock for that step only, the worker serving other clients between steps), then
//! `[ASKING,] HPEXPIREAT` for a hash's volatile fields; a WATCH flag on the key tells
//! whether it changed meanwhile, in place of comparing its contents. Inside EXEC (no
//! parking) it moves whole. (A whole hash with volatile fields carries their times in its
//! payload, RDB 12's, as Redis 7.4 writes it.)
//!
//! A write that came in meanwhile is not lost: the key stays and moves on the next pass,
//! replacing the older copy this node sent (`Cluster::sent_before`); a key the target
//! held before the migration still stops the move with BUSYKEY unless REPLACE is given,
//! as in Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_protocol::resp::reply::format_score;
use cairn_store::db::Now;
use cairn_store::{Object, ValueRef};

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

/// Elements a big collection moves in per step (and above which it moves in steps).
pub const STEP: usize = 1024;

/// Keys taken from this node, ready to go to the target.
pub struct Batch {
    host: String,
    port: u16,
    timeout: Duration,
    copy: bool,
    /// The database the keys were taken from.
    db: usize,
    /// The pipeline: every command gets one reply.
    commands: Vec<Part>,
    taken: Vec<Taken>,
}

/// One part of the pipeline.
enum Part {
    Command(Vec<Vec<u8>>),
    /// A big collection, read in steps while the pipeline goes out.
    Steps(Steps),
}

/// How a big collection is to be sent.
struct Steps {
    key: Vec<u8>,
    slot: u16,
    /// RESTORE's TTL argument.
    ttl: u64,
    replace: bool,
    /// Each command after the first goes after an ASKING (to a cluster node).
    asking: bool,
}

/// How to tell whether a key changed since it was taken.
enum Print {
    /// What its value held.
    Value(u128),
    /// Set by any change to the key (a big collection, read in steps).
    Watched(cairn_store::db::WatchFlag),
}

/// A key taken, with what it held and its deadline when taken, to tell whether it
/// changed since.
type Taken = (Vec<u8>, Print, Option<u64>);

/// What a value held when it was sent, to tell whether it changed since.
fn value_print(value: ValueRef<'_>) -> u128 {
    match value {
        // A collection's payload: the same contents, unchanged since, read the same way.
        ValueRef::Obj(_) => xxhash_rust::xxh3::xxh3_128(&cairn_store::dump::serialize(value)),
        _ => value.with_bytes(xxhash_rust::xxh3::xxh3_128),
    }
}

/// Takes the payloads and remaining TTLs of `request`'s keys in database `db` at `now`;
/// `None` when none of them is there (MIGRATE answers NOKEY). With `in_steps`, big
/// collections are left to be read in steps while the batch is sent ([`Batch::send`]).
pub fn take(
    server: &Server,
    db: usize,
    now: Now,
    request: Request,
    in_steps: bool,
) -> Option<Batch> {
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
    let mut parts: Vec<Part> = Vec::new();
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
        // A stream moves whole (its groups refer to its entries), as Redis's MIGRATE moves
        // every value.
        if in_steps
            && e.object()
                .is_some_and(|o| o.len() > STEP && o.as_stream().is_none())
        {
            let deadline = e.expire_at();
            let flag = cairn_store::db::WatchFlag::default();
            shard.db(db).watch(key, &flag);
            let ours = cluster.is_some_and(|cl| cl.sent_before(slot, key));
            if let Some(cl) = cluster {
                // Cut short, it leaves part of the collection on the target.
                cl.remember_sent(slot, key);
            }
            parts.extend(commands.drain(..).map(Part::Command));
            parts.push(Part::Steps(Steps {
                key: key.clone(),
                slot,
                ttl,
                replace: replace || ours,
                asking: cluster.is_some(),
            }));
            taken.push((key.clone(), Print::Watched(flag), deadline));
            continue;
        }
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
        taken.push((key.clone(), Print::Value(value_print(value)), e.expire_at()));
    }
    if taken.is_empty() {
        return None;
    }
    parts.extend(commands.into_iter().map(Part::Command));
    Some(Batch {
        host,
        port,
        timeout,
        copy,
        db,
        commands: parts,
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
        let sent = delivery.run(&server).await;
        settle.run(&server, sent.is_ok());
        sent.map(|()| "OK".to_string())
    }

    /// [`Batch::send`] from synchronous code: MIGRATE inside EXEC, which Redis runs to its
    /// end before the next queued command (blocking its server meanwhile). The transfer
    /// runs on a thread and runtime of its own (this thread's runtime waits here and
    /// cannot drive it) for at most the timeout per step; the removals run here, where
    /// the transaction's hold lends the shards.
    pub fn send_now(self, server: &Server) -> Result<String, String> {
        let (delivery, settle) = self.split();
        debug_assert!(
            delivery
                .commands
                .iter()
                .all(|p| matches!(p, Part::Command(_))),
            "inside EXEC, keys are taken whole"
        );
        let server_arc = server.arc();
        let run = move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("IOERR error or timeout connecting to the client: {e}"))?
                .block_on(delivery.run(&server_arc))
        };
        let sent = std::thread::Builder::new()
            .name("cairn-migrate".into())
            .spawn(run)
            .map_err(|e| format!("IOERR error or timeout connecting to the client: {e}"))
            .and_then(|t| {
                t.join().unwrap_or_else(|_| {
                    Err("IOERR error or timeout writing to target instance".into())
                })
            });
        settle.run(server, sent.is_ok());
        sent.map(|()| "OK".to_string())
    }

    fn split(self) -> (Delivery, Settle) {
        (
            Delivery {
                host: self.host,
                port: self.port,
                timeout: self.timeout,
                db: self.db,
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
    /// The database the keys are read from (for big collections, read while sending).
    db: usize,
    commands: Vec<Part>,
}

impl Delivery {
    /// Sends the pipeline; the target's first error, relayed, fails it.
    async fn run(self, server: &Server) -> Result<(), String> {
        let ioerr = |e: peer::Error| e.ioerr().to_string();
        let mut peer = Peer::connect(&self.host, self.port, self.timeout)
            .await
            .map_err(ioerr)?;
        let mut sent = 0;
        let mut run: Vec<&Vec<Vec<u8>>> = Vec::new();
        for part in &self.commands {
            match part {
                Part::Command(c) => run.push(c),
                Part::Steps(steps) => {
                    peer.send_all(&run).await.map_err(ioerr)?;
                    sent += run.len();
                    run.clear();
                    sent += send_in_steps(server, self.db, steps, &mut peer).await?;
                }
            }
        }
        peer.send_all(&run).await.map_err(ioerr)?;
        sent += run.len();
        let mut first_error = None;
        for _ in 0..sent {
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
    /// Unless COPY (or the delivery failed), removes each key unchanged since it was
    /// taken; a changed one is remembered as sent, so the next pass replaces the target's
    /// copy. Either way the keys' WATCH flags go.
    fn run(self, server: &Server, delivered: bool) {
        let now = server.clock.at(Instant::now());
        for (key, print, deadline) in &self.taken {
            let slot = cairn_store::key_slot(key);
            let mut shard = server.keyspace.lock(slot);
            let db = shard.db(self.db);
            if let Print::Watched(flag) = print {
                db.unwatch(key, flag);
            }
            if self.copy || !delivered {
                continue;
            }
            let unchanged = db.peek(slot, key, now).is_some_and(|e| {
                e.expire_at() == *deadline
                    && match print {
                        Print::Value(p) => value_print(e.value()) == *p,
                        Print::Watched(flag) => !flag.load(std::sync::atomic::Ordering::Acquire),
                    }
            });
            if unchanged {
                db.remove(slot, key, now);
            } else if let Some(cl) = server.cluster.get() {
                cl.remember_sent(slot, key);
            }
        }
    }
}

/// A score as this module spelled it (`format_score` spells every double so that it
/// reads back the same).
fn parse_score(text: &[u8]) -> f64 {
    crate::commands::zset_args::score_arg(text).expect("a score this node spelled")
}

/// The type of a collection moving in steps, fixed by its first step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hash,
    Set,
    List,
    ZSet,
}

/// Sends a big collection in steps of [`STEP`] elements, each read under the shard's
/// lock for that step only, yielding to the worker's other clients between steps.
/// Returns how many commands went (each gets a reply). A key that went away or changed
/// type meanwhile ends the steps (its WATCH flag keeps it here).
///
/// Hashes, sets and sorted sets go by SCAN cursor (HSET/SADD/ZADD of an element sent
/// twice does nothing new).
/// A list goes by index, in order: a RESTORE of its first elements, then RPUSH of the
/// next ones, up to the length it had at the first step (so a list pushed to faster than
/// it is sent still ends), each step also bounded to [`PIECE`] bytes. If the list changes
/// between steps the target's copy is not this node's list, but its WATCH flag is set: the
/// key stays here and its next move replaces that copy, as for a hash or a set.
async fn send_in_steps(
    server: &Server,
    db: usize,
    steps: &Steps,
    peer: &mut Peer,
) -> Result<usize, String> {
    let ioerr = |e: peer::Error| e.ioerr().to_string();
    let key = &steps.key;
    // A SCAN cursor (hash, set) or the next index (list); 0 once done.
    let mut cursor = 0;
    let mut sent = 0;
    let mut kind = None;
    // A list's length when its first step was read.
    let mut list_end = 0;
    loop {
        let now = server.clock.at(Instant::now());
        let mut elements: Vec<Vec<u8>> = Vec::new();
        let (this, next) = {
            let mut shard = server.keyspace.lock(steps.slot);
            let Some(obj) = shard
                .db(db)
                .peek(steps.slot, key, now)
                .and_then(|e| e.object())
            else {
                return Ok(sent);
            };
            match obj {
                Object::Hash(h) => {
                    let next = h.scan(cursor, STEP, |f, v| {
                        elements.push(f.to_vec());
                        elements.push(v.to_vec());
                    });
                    (Kind::Hash, next)
                }
                Object::Set(set) => (
                    Kind::Set,
                    set.scan(cursor, STEP, |m| elements.push(m.to_vec())),
                ),
                Object::ZSet(z) => {
                    let next = z.scan(cursor, STEP, |m, score| {
                        elements.push(format_score(score).into_bytes());
                        elements.push(m.to_vec());
                    });
                    (Kind::ZSet, next)
                }
                Object::List(list) => {
                    if kind.is_none() {
                        list_end = list.len();
                    }
                    let end = list_end.min(list.len());
                    let from = cursor as usize;
                    let mut bytes = 0;
                    for v in list.iter_from(from).take(end.saturating_sub(from)) {
                        if elements.len() == STEP || bytes >= PIECE {
                            break;
                        }
                        bytes += v.len();
                        elements.push(v.to_vec());
                    }
                    let at = from + elements.len();
                    (Kind::List, if at < end { at as u64 } else { 0 })
                }
                // Never sent in steps (see `take`); one that became a stream meanwhile
                // ends them, as any change of type does.
                Object::Stream(_) => return Ok(sent),
            }
        };
        if *kind.get_or_insert(this) != this {
            return Ok(sent);
        }
        let mut commands: Vec<Vec<Vec<u8>>> = Vec::new();
        if sent == 0 {
            // The first step: a RESTORE of what it read, encoded straight from it (the
            // step's elements are distinct in a hash or set, in order in a list; Redis
            // refuses an empty payload).
            let payload = match this {
                Kind::Hash => {
                    let pairs: Vec<(&[u8], &[u8])> = elements
                        .chunks(2)
                        .map(|p| (p[0].as_slice(), p[1].as_slice()))
                        .collect();
                    cairn_store::rdb::encode_hash(&pairs)
                }
                Kind::Set => cairn_store::rdb::encode_set(&elements),
                Kind::List => cairn_store::rdb::encode_list(&elements),
                Kind::ZSet => {
                    let pairs: Vec<(&[u8], f64)> = elements
                        .chunks(2)
                        .map(|p| (p[1].as_slice(), parse_score(&p[0])))
                        .collect();
                    cairn_store::rdb::encode_zset(&pairs)
                }
            };
            let mut c = vec![
                b"RESTORE-ASKING".to_vec(),
                key.clone(),
                steps.ttl.to_string().into_bytes(),
                payload,
            ];
            if steps.replace {
                c.push(b"REPLACE".to_vec());
            }
            commands.push(c);
        } else if !elements.is_empty() {
            if steps.asking {
                commands.push(vec![b"ASKING".to_vec()]);
            }
            let name: &[u8] = match this {
                Kind::Hash => b"HSET",
                Kind::Set => b"SADD",
                Kind::List => b"RPUSH",
                Kind::ZSet => b"ZADD",
            };
            let mut c = vec![name.to_vec(), key.clone()];
            c.extend(elements);
            commands.push(c);
        }
        cursor = next;
        if cursor == 0 {
            // The fields' times, once every field is there.
            let mut shard = server.keyspace.lock(steps.slot);
            if let Some(h) = shard
                .db(db)
                .peek(steps.slot, key, now)
                .and_then(|e| e.object())
                .and_then(Object::as_hash)
            {
                for (field, at) in h.volatile_fields() {
                    if steps.asking {
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
        }
        peer.send_all(&commands).await.map_err(ioerr)?;
        sent += commands.len();
        if cursor == 0 {
            return Ok(sent);
        }
        tokio::task::yield_now().await;
    }
}
