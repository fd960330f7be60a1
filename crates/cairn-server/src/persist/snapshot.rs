//! Snapshot files: the keyspace at one moment, as the commands that recreate it, framed
//! in checksummed blocks. One format serves `dbfilename` (SAVE, BGSAVE, SHUTDOWN) and the
//! base of the append-only file (BGREWRITEAOF).
//!
//! ```text
//! header   "CAIRNSNP" | version u16 LE | stream offset u64 LE | created unix ms u64 LE
//!          | stream db u32 LE (u32::MAX: none) | replication id, 40 bytes   (version 2+)
//! block*   length u32 LE | xxh3-64 of payload u64 LE | payload (RESP commands)
//! end      length 0 u32 | keys u64 LE
//!          | shards u32 LE | each shard's cut u64 LE                        (version 3)
//!          | xxh3-64 of everything before it u64 LE
//! ```
//!
//! The header says where the write stream stood when the snapshot was cut (its offset,
//! the database its last SELECT chose, the replication id whose history it belongs to):
//! a replica loading it continues the primary's stream from there, and a restarted
//! replica asks its primary for exactly the bytes after it. Version 1 and 2 files (no
//! cuts: their streams held states only) still load.
//!
//! A snapshot is written without fork() and without copying the dataset: shard by shard,
//! each shard's keys are encoded under its lock (one instant per shard, a few
//! milliseconds for a million keys over 16 shards), then written out with the lock
//! released, so the server keeps serving and memory grows by one shard's encoding at
//! most. It records the stream offset at which it started, and the end marker the offset
//! at which each shard was cut ([`super::cuts`]): a write made between the start and
//! its shard's turn is both in the snapshot and in the stream after it, and replaying
//! skips it there, because a stream record may be an operation (APPEND) that must not
//! apply twice.
//!
//! Files are written to a temporary name, fsynced, renamed over the old one and the
//! directory fsynced: a crash at any moment leaves the previous snapshot whole.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::cuts::Cuts;
use super::durable::sync_dir;
use super::stream::FILE_LIMITS;
use super::stream::{Origin, Position, REPLID_LEN, encode_entry, select};
use crate::server::Server;

const MAGIC: &[u8; 8] = b"CAIRNSNP";
pub const VERSION: u16 = 3;
const HEADER_V1: usize = 8 + 2 + 8 + 8;
const HEADER: usize = HEADER_V1 + 4 + REPLID_LEN;
/// A block is flushed once its payload reaches this size.
const BLOCK: usize = 1 << 20;
/// What writing a snapshot produced.
#[derive(Debug, Clone)]
pub struct Written {
    pub keys: u64,
    pub bytes: u64,
    pub origin: Origin,
    pub cuts: Cuts,
}

/// A SWAPDB ran while shards were being cut: the shards cut before it and after it
/// disagree about which database is which, so the cut must start over.
fn swapped() -> std::io::Error {
    std::io::Error::other("SWAPDB ran during the snapshot")
}

fn is_swapped(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Other && e.to_string() == "SWAPDB ran during the snapshot"
}

struct Blocks<W: Write> {
    out: W,
    whole: Xxh3,
    written: u64,
}

impl<W: Write> Blocks<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.whole.update(bytes);
        self.written += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    fn block(&mut self, payload: &[u8]) -> std::io::Result<()> {
        if payload.is_empty() {
            return Ok(());
        }
        self.put(&(payload.len() as u32).to_le_bytes())?;
        self.put(&xxh3_64(payload).to_le_bytes())?;
        self.put(payload)
    }
}

/// Writes the keyspace as a snapshot to `path` (through a temporary file). `origin` is
/// where the stream stood before the first shard was cut (read after `cut_start`).
pub fn write(
    server: &Server,
    path: &Path,
    mut origin: impl FnMut() -> Origin,
) -> std::io::Result<Written> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut attempt = || {
        let swaps = cut_start(server);
        write_file(server, &tmp, origin(), swaps)
    };
    let mut result = attempt();
    // A SWAPDB during the cut is rare; a few tries, then give up.
    for _ in 0..8 {
        match &result {
            Err(e) if is_swapped(e) => result = attempt(),
            _ => break,
        }
    }
    settle(result, &tmp, path)
}

/// Puts a written temporary file in place (rename, then the directory synced), or
/// removes it if writing failed.
fn settle(result: std::io::Result<Written>, tmp: &Path, path: &Path) -> std::io::Result<Written> {
    match result.and_then(|w| std::fs::rename(tmp, path).map(|()| w)) {
        Ok(w) => {
            if let Some(dir) = path.parent() {
                sync_dir(dir);
            }
            Ok(w)
        }
        Err(e) => {
            // A failed write or rename leaves no temporary file taking space on a disk
            // that may be full.
            let _ = std::fs::remove_file(tmp);
            Err(e)
        }
    }
}

/// Writes one snapshot cut at a fixed `origin` (an AOF rewrite's switch): `swaps` is
/// [`cut_start`]'s reading taken before the origin; a SWAPDB since fails the write.
pub fn write_at(
    server: &Server,
    path: &Path,
    origin: Origin,
    swaps: u64,
) -> std::io::Result<Written> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    settle(write_file(server, &tmp, origin, swaps), &tmp, path)
}

fn write_file(server: &Server, tmp: &Path, origin: Origin, swaps: u64) -> std::io::Result<Written> {
    let file = File::create(tmp)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let written = write_to(server, &mut out, origin, swaps)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(written)
}

/// The SWAPDB count to hand [`write_to`]: read it *before* the stream's position.
pub fn cut_start(server: &Server) -> u64 {
    server.keyspace.swap_generation()
}

/// Writes the keyspace as a snapshot into `out` (a file, or the replicas of a full sync).
/// `swaps` is [`cut_start`]'s reading, taken before `origin` was; if a SWAPDB runs before
/// the last shard is cut, this fails and the caller starts over.
pub fn write_to(
    server: &Server,
    out: &mut impl Write,
    origin: Origin,
    swaps: u64,
) -> std::io::Result<Written> {
    let mut b = Blocks {
        out,
        whole: Xxh3::new(),
        written: 0,
    };
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&origin.pos.offset.to_le_bytes());
    header.extend_from_slice(&created.to_le_bytes());
    let db = u32::try_from(origin.pos.db).unwrap_or(u32::MAX);
    header.extend_from_slice(&db.to_le_bytes());
    header.extend_from_slice(&origin.replid);
    b.put(&header)?;
    let ks = &server.keyspace;
    let stream = &server.persist.stream;
    let mut keys = 0u64;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    // The data also holds what the snapshot it was loaded from holds (read after the
    // origin: a full sync's swap and restart count as a SWAPDB here).
    let loaded = stream.window();
    let mut ends = Vec::with_capacity(ks.shard_count());
    for shard in 0..ks.shard_count() {
        // The shard at one instant: encoded whole under its lock, written out after.
        {
            let now = server.clock.at(Instant::now());
            // A replica appends its primary's commands after applying them: none may be
            // between the two while the shard's cut is read.
            let applying = stream.hold_applying();
            let guard = ks.lock_shard(shard);
            ends.push(stream.end().max(origin.pos.offset));
            drop(applying);
            if ks.swap_generation() != swaps {
                return Err(swapped());
            }
            let mut payload = Vec::with_capacity(64 * 1024);
            for (db, d) in guard.dbs().iter().enumerate() {
                // Blocks stand alone: each names its database first.
                let mut current_db = usize::MAX;
                d.for_each(now, |e| {
                    select(&mut payload, &mut current_db, db);
                    encode_entry(&mut payload, e);
                    keys += 1;
                    if payload.len() >= BLOCK {
                        blocks.push(std::mem::replace(&mut payload, Vec::with_capacity(BLOCK)));
                        current_db = usize::MAX;
                    }
                });
                if !payload.is_empty() {
                    blocks.push(std::mem::take(&mut payload));
                }
            }
        }
        for block in blocks.drain(..) {
            b.block(&block)?;
        }
    }
    let cuts = Cuts::combine(&ends, &loaded);
    let mut end = Vec::with_capacity(16 + 8 * cuts.shards().len());
    end.extend_from_slice(&0u32.to_le_bytes());
    end.extend_from_slice(&keys.to_le_bytes());
    cuts.encode(&mut end);
    b.put(&end)?;
    let sum = b.whole.digest();
    b.out.write_all(&sum.to_le_bytes())?;
    b.out.flush()?;
    Ok(Written {
        keys,
        bytes: b.written + 8,
        origin,
        cuts,
    })
}

/// What a snapshot file holds, checked but not loaded.
#[derive(Debug)]
pub struct Checked {
    pub origin: Origin,
    /// Where each shard was cut (none before version 3).
    pub cuts: Cuts,
    pub created_ms: u64,
    pub keys: u64,
    pub blocks: usize,
}

/// What a header says.
#[derive(Clone, Copy)]
struct Header {
    origin: Origin,
    created_ms: u64,
    version: u16,
    len: usize,
}

/// The length of the header that starts `data` (which holds at least [`HEADER_V1`]).
fn header_len(data: &[u8]) -> usize {
    if u16::from_le_bytes([data[8], data[9]]) == 1 {
        HEADER_V1
    } else {
        HEADER
    }
}

/// Parses a header.
fn header(data: &[u8]) -> Result<Header, Damage> {
    let bad = |at: usize, why: &str| Damage {
        at: at as u64,
        why: why.to_string(),
    };
    if data.len() < HEADER_V1 || &data[..8] != MAGIC {
        return Err(bad(0, "not a Cairn snapshot (bad magic)"));
    }
    let version = u16::from_le_bytes(data[8..10].try_into().unwrap());
    let offset = u64::from_le_bytes(data[10..18].try_into().unwrap());
    let created_ms = u64::from_le_bytes(data[18..26].try_into().unwrap());
    match version {
        1 => Ok(Header {
            origin: Origin::at(offset),
            created_ms,
            version,
            len: HEADER_V1,
        }),
        2 | 3 if data.len() >= HEADER => {
            let db = u32::from_le_bytes(data[26..30].try_into().unwrap());
            let mut replid = [0u8; REPLID_LEN];
            replid.copy_from_slice(&data[30..HEADER]);
            Ok(Header {
                origin: Origin {
                    pos: Position {
                        offset,
                        db: if db == u32::MAX {
                            usize::MAX
                        } else {
                            db as usize
                        },
                    },
                    replid,
                },
                created_ms,
                version,
                len: HEADER,
            })
        }
        2 | 3 => Err(bad(HEADER_V1, "header cut short (truncated)")),
        v => Err(bad(8, &format!("unsupported snapshot version {v}"))),
    }
}

/// Damage found in a snapshot file.
#[derive(Debug)]
pub struct Damage {
    pub at: u64,
    pub why: String,
}

/// The end marker at the start of `rest` (its length word already read as 0), without
/// its checksum: the key count and the cuts, and the marker's length up to the checksum.
/// `None`: not all there yet.
fn end_marker(rest: &[u8], version: u16) -> Option<Result<(u64, Cuts, usize), &'static str>> {
    let keys = u64::from_le_bytes(rest.get(4..12)?.try_into().ok()?);
    if version < 3 {
        return Some(Ok((keys, Cuts::default(), 12)));
    }
    let len = match Cuts::encoded_len(&rest[12..])? {
        Ok(len) => len,
        Err(why) => return Some(Err(why)),
    };
    let cuts = Cuts::decode(rest.get(12..12 + len)?);
    Some(cuts.map(|c| (keys, c, 12 + len)))
}

/// Reads and verifies a snapshot; hands each block's payload to `each`.
pub fn read(
    data: &[u8],
    mut each: impl FnMut(&[u8], u64) -> Result<(), Damage>,
) -> Result<Checked, Damage> {
    let bad = |at: usize, why: &str| Damage {
        at: at as u64,
        why: why.to_string(),
    };
    let h = header(data)?;
    let mut at = h.len;
    let mut blocks = 0;
    loop {
        if data.len() < at + 4 {
            return Err(bad(at, "file ends before its end marker (truncated)"));
        }
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            let (keys, cuts, end) = match end_marker(&data[at..], h.version) {
                None => return Err(bad(at, "end marker cut short (truncated)")),
                Some(Err(why)) => return Err(bad(at, why)),
                Some(Ok(m)) => m,
            };
            let Some(sum) = data.get(at + end..at + end + 8) else {
                return Err(bad(at, "end marker cut short (truncated)"));
            };
            let sum = u64::from_le_bytes(sum.try_into().unwrap());
            if xxh3_64(&data[..at + end]) != sum {
                return Err(bad(at + end, "whole-file checksum mismatch"));
            }
            if data.len() != at + end + 8 {
                return Err(bad(at + end + 8, "bytes after the end marker"));
            }
            return Ok(Checked {
                origin: h.origin,
                cuts,
                created_ms: h.created_ms,
                keys,
                blocks,
            });
        }
        if data.len() < at + 12 + len {
            return Err(bad(at, "block runs past the end of the file (truncated)"));
        }
        let sum = u64::from_le_bytes(data[at + 4..at + 12].try_into().unwrap());
        let payload = &data[at + 12..at + 12 + len];
        if xxh3_64(payload) != sum {
            return Err(bad(at, "block checksum mismatch"));
        }
        each(payload, (at + 12) as u64)?;
        blocks += 1;
        at += 12 + len;
    }
}

/// Reads a snapshot as it arrives over a socket (a replica's full sync), checking every
/// checksum as it goes and handing each block's payload on; memory holds one block.
#[derive(Default)]
pub struct Incoming {
    buf: Vec<u8>,
    whole: Xxh3,
    header: Option<Header>,
    blocks: usize,
    /// Bytes consumed so far (damage is reported at its offset in the snapshot).
    at: u64,
    done: bool,
}

impl Incoming {
    pub fn new() -> Incoming {
        Incoming::default()
    }

    /// The header, once it arrived.
    pub fn origin(&self) -> Option<Origin> {
        self.header.map(|h| h.origin)
    }

    /// What came after the end marker (over a socket: the stream that follows).
    pub fn rest(&self) -> &[u8] {
        if self.done { &self.buf } else { &[] }
    }

    /// Feeds the next bytes; `each` gets every whole block's payload. Returns the
    /// snapshot's summary once its end marker arrived and checked out; whatever followed
    /// it is left in [`Incoming::rest`].
    pub fn push(
        &mut self,
        bytes: &[u8],
        mut each: impl FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<Option<Checked>, Damage> {
        if self.done {
            return Err(self.damage(0, "bytes after the end marker"));
        }
        self.buf.extend_from_slice(bytes);
        let mut used = 0;
        let result = loop {
            let rest = &self.buf[used..];
            let Some(h) = self.header else {
                if rest.len() < HEADER_V1 {
                    break Ok(None);
                }
                let need = header_len(rest);
                if rest.len() < need {
                    break Ok(None);
                }
                match header(&rest[..need]) {
                    Ok(h) => {
                        self.whole.update(&rest[..h.len]);
                        self.header = Some(h);
                        used += h.len;
                        continue;
                    }
                    Err(d) => break Err(self.damage(used as u64 + d.at, &d.why)),
                }
            };
            if rest.len() < 4 {
                break Ok(None);
            }
            let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
            if len == 0 {
                let (keys, cuts, end) = match end_marker(rest, h.version) {
                    None => break Ok(None),
                    Some(Err(why)) => break Err(self.damage(used as u64, why)),
                    Some(Ok(m)) => m,
                };
                let Some(sum) = rest.get(end..end + 8) else {
                    break Ok(None);
                };
                let sum = u64::from_le_bytes(sum.try_into().unwrap());
                self.whole.update(&rest[..end]);
                if self.whole.digest() != sum {
                    break Err(
                        self.damage(used as u64 + end as u64, "whole-file checksum mismatch")
                    );
                }
                used += end + 8;
                self.done = true;
                break Ok(Some(Checked {
                    origin: h.origin,
                    cuts,
                    created_ms: h.created_ms,
                    keys,
                    blocks: self.blocks,
                }));
            }
            if rest.len() < 12 + len {
                break Ok(None);
            }
            let sum = u64::from_le_bytes(rest[4..12].try_into().unwrap());
            let payload = &rest[12..12 + len];
            if xxh3_64(payload) != sum {
                break Err(self.damage(used as u64, "block checksum mismatch"));
            }
            if let Err(why) = each(payload) {
                break Err(self.damage(used as u64 + 12, &why));
            }
            self.whole.update(&rest[..12 + len]);
            self.blocks += 1;
            used += 12 + len;
        };
        self.at += used as u64;
        self.buf.drain(..used);
        result
    }

    fn damage(&self, at: u64, why: &str) -> Damage {
        Damage {
            at: self.at + at,
            why: why.to_string(),
        }
    }
}

/// Applies one block's commands straight to `ks`, without the command table: a snapshot
/// only ever holds `SELECT db`, `SET key value [PXAT ms]`, `MEMCACHED FLAGS key n`, and
/// for collections `HSET key f v ...` / `SADD key m ...` / `RPUSH key e ...` /
/// `ZADD key score m ...` (a big one
/// in several), `HPEXPIREAT` for a hash's volatile fields, and `PEXPIREAT key ms`. Keys
/// are stored even if their deadline has passed meanwhile: the primary that sent them
/// will send their DEL (a replica follows its primary's expiries). `limits`: when
/// collections become tables, how big a list's nodes grow. Returns the keys stored.
pub fn load_block_into(
    ks: &cairn_store::Keyspace,
    payload: &[u8],
    limits: &cairn_store::Limits,
) -> Result<u64, String> {
    use cairn_protocol::resp::request::Parsed;
    use cairn_store::db::Now;
    use cairn_store::{ExpireChange, Object};
    let wall = Now::wall();
    // Nothing is ever expired at Unix time 0; the LRU clock still reads the real time.
    let now = Now { ms: 0, s: wall.s };
    let mut parser = cairn_protocol::RequestParser::new(FILE_LIMITS);
    let (mut db, mut at, mut keys) = (0usize, 0usize, 0u64);
    let dbs = ks.databases();
    while at < payload.len() {
        let rest = &payload[at..];
        let len = match parser.parse(rest).map_err(|e| e.message())? {
            Parsed::Command { len, inline } => {
                let args = parser.args(rest, inline);
                let name = args.get(0);
                if name.eq_ignore_ascii_case(b"SET") && (args.len() == 3 || args.len() == 5) {
                    let key = args.get(1);
                    let expire = if args.len() == 5 {
                        let ms = std::str::from_utf8(args.get(4))
                            .ok()
                            .and_then(|t| t.parse::<u64>().ok())
                            .ok_or("bad PXAT in a snapshot")?;
                        ExpireChange::At(ms)
                    } else {
                        ExpireChange::Clear
                    };
                    let slot = cairn_store::key_slot(key);
                    ks.lock(slot)
                        .db(db)
                        .set_bytes(slot, key, args.get(2), expire, now);
                    keys += 1;
                } else if name.eq_ignore_ascii_case(b"SELECT") && args.len() == 2 {
                    db = std::str::from_utf8(args.get(1))
                        .ok()
                        .and_then(|t| t.parse::<usize>().ok())
                        .filter(|&d| d < dbs)
                        .ok_or("SELECT of a database this server does not have")?;
                } else if name.eq_ignore_ascii_case(b"HSET")
                    && args.len() >= 4
                    && args.len().is_multiple_of(2)
                {
                    let key = args.get(1);
                    let slot = cairn_store::key_slot(key);
                    let mut shard = ks.lock(slot);
                    let (mut e, created) = shard.db(db).write_or_create(slot, key, now, || {
                        Object::Hash(cairn_store::types::hash::Hash::default())
                    });
                    let h = e
                        .object_mut()
                        .and_then(Object::as_hash_mut)
                        .ok_or("HSET of a key that is no hash in a snapshot")?;
                    for i in (2..args.len()).step_by(2) {
                        h.set(args.get(i), args.get(i + 1), limits);
                    }
                    keys += u64::from(created);
                } else if name.eq_ignore_ascii_case(b"SADD") && args.len() >= 3 {
                    let key = args.get(1);
                    let slot = cairn_store::key_slot(key);
                    let mut shard = ks.lock(slot);
                    let first = args.get(2);
                    let (mut e, created) = shard.db(db).write_or_create(slot, key, now, || {
                        Object::Set(cairn_store::types::set::Set::for_member(first, limits))
                    });
                    let set = e
                        .object_mut()
                        .and_then(Object::as_set_mut)
                        .ok_or("SADD to a key that is no set in a snapshot")?;
                    for i in 2..args.len() {
                        set.add(args.get(i), limits);
                    }
                    keys += u64::from(created);
                } else if name.eq_ignore_ascii_case(b"RPUSH") && args.len() >= 3 {
                    // A list in order, in pieces of at most ELEMENTS_PER_COMMAND.
                    let key = args.get(1);
                    let slot = cairn_store::key_slot(key);
                    let mut shard = ks.lock(slot);
                    let (mut e, created) = shard.db(db).write_or_create(slot, key, now, || {
                        Object::List(cairn_store::types::list::List::new())
                    });
                    let list = e
                        .object_mut()
                        .and_then(Object::as_list_mut)
                        .ok_or("RPUSH to a key that is no list in a snapshot")?;
                    for i in 2..args.len() {
                        list.push_back(args.get(i), limits);
                    }
                    keys += u64::from(created);
                } else if name.eq_ignore_ascii_case(b"ZADD")
                    && args.len() >= 4
                    && args.len().is_multiple_of(2)
                {
                    // ZADD key score member ...: `%.17g` scores, which read back exactly.
                    let key = args.get(1);
                    let slot = cairn_store::key_slot(key);
                    let mut shard = ks.lock(slot);
                    let (mut e, created) = shard.db(db).write_or_create(slot, key, now, || {
                        Object::ZSet(cairn_store::types::zset::ZSet::new())
                    });
                    let z = e
                        .object_mut()
                        .and_then(Object::as_zset_mut)
                        .ok_or("ZADD to a key that is no sorted set in a snapshot")?;
                    for i in (2..args.len()).step_by(2) {
                        let score = crate::commands::zset_args::score_arg(args.get(i))
                            .map_err(|_| "bad ZADD score in a snapshot")?;
                        z.insert(args.get(i + 1), score, limits);
                    }
                    keys += u64::from(created);
                } else if name.eq_ignore_ascii_case(b"RESTORE") && args.len() == 4 {
                    // RESTORE key 0 payload: a stream, whole (see `encode_object`).
                    let key = args.get(1);
                    let value = cairn_store::dump::deserialize_with(args.get(3), limits)
                        .map_err(|_| "a RESTORE payload in a snapshot that does not read")?;
                    let slot = cairn_store::key_slot(key);
                    let replaced =
                        ks.lock(slot)
                            .db(db)
                            .set(slot, key, value, ExpireChange::Clear, now);
                    keys += u64::from(!replaced);
                } else if name.eq_ignore_ascii_case(b"HPEXPIREAT") && args.len() >= 6 {
                    // HPEXPIREAT key ms FIELDS n field...: after the hash's HSETs.
                    let key = args.get(1);
                    let ms = std::str::from_utf8(args.get(2))
                        .ok()
                        .and_then(|t| t.parse::<u64>().ok())
                        .ok_or("bad HPEXPIREAT in a snapshot")?;
                    let slot = cairn_store::key_slot(key);
                    let mut shard = ks.lock(slot);
                    let mut e = shard
                        .db(db)
                        .write(slot, key, now)
                        .ok_or("HPEXPIREAT of a key a snapshot does not hold")?;
                    let h = e
                        .object_mut()
                        .and_then(Object::as_hash_mut)
                        .ok_or("HPEXPIREAT of a key that is no hash in a snapshot")?;
                    for i in 5..args.len() {
                        if h.contains(args.get(i)) {
                            h.set_expire(args.get(i), ms);
                        }
                    }
                } else if name.eq_ignore_ascii_case(b"PEXPIREAT") && args.len() == 3 {
                    let key = args.get(1);
                    let ms = std::str::from_utf8(args.get(2))
                        .ok()
                        .and_then(|t| t.parse::<u64>().ok())
                        .ok_or("bad PEXPIREAT in a snapshot")?;
                    let slot = cairn_store::key_slot(key);
                    ks.lock(slot).db(db).set_expire(slot, key, Some(ms), now);
                } else if name.eq_ignore_ascii_case(b"MEMCACHED") && args.len() == 4 {
                    let key = args.get(2);
                    let flags = std::str::from_utf8(args.get(3))
                        .ok()
                        .and_then(|t| t.parse::<u32>().ok())
                        .ok_or("bad MEMCACHED FLAGS in a snapshot")?;
                    let slot = cairn_store::key_slot(key);
                    ks.lock(slot).db(db).set_client_flags(slot, key, flags, now);
                } else {
                    return Err(format!(
                        "unexpected command in a snapshot: '{}'",
                        String::from_utf8_lossy(name)
                    ));
                }
                len
            }
            Parsed::Nothing { len } => len,
            Parsed::Incomplete { .. } => return Err("a command is cut short inside a block".into()),
        };
        at += len;
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_with_data() -> std::sync::Arc<Server> {
        let server = Server::new(crate::Config::default(), crate::Hooks::default());
        let now = cairn_store::db::Now::from_unix_ms(1_000);
        for db in [0usize, 5] {
            for i in 0..3_000u32 {
                let key = format!("k{db}:{i}");
                let slot = cairn_store::key_slot(key.as_bytes());
                let expire = if i % 3 == 0 {
                    cairn_store::ExpireChange::At(u64::MAX / 2)
                } else {
                    cairn_store::ExpireChange::Clear
                };
                let mut shard = server.keyspace.lock(slot);
                let d = shard.db(db);
                d.set_bytes(slot, key.as_bytes(), &[b'v'; 300], expire, now);
                if i % 7 == 0 {
                    d.set_client_flags(slot, key.as_bytes(), 42, now);
                }
            }
        }
        server
    }

    fn origin() -> Origin {
        Origin {
            pos: Position {
                offset: 12_345,
                db: 5,
            },
            replid: *b"0123456789abcdef0123456789abcdef01234567",
        }
    }

    #[test]
    fn a_snapshot_read_in_pieces_loads_the_same_keys_and_leaves_what_follows() {
        let server = server_with_data();
        let mut out = Vec::new();
        let swaps = cut_start(&server);
        let w = write_to(&server, &mut out, origin(), swaps).unwrap();
        assert_eq!(w.keys, 6_000);
        assert_eq!(read(&out, |_, _| Ok(())).unwrap().origin, origin());
        out.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        let staging = server.keyspace.staging();
        let mut incoming = Incoming::new();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut at = 0;
        let mut loaded = 0;
        let checked = loop {
            let n = rng.usize(1..5_000).min(out.len() - at);
            let piece = &out[at..at + n];
            at += n;
            if let Some(c) = incoming
                .push(piece, |p| {
                    loaded += load_block_into(&staging, p, &cairn_store::Limits::default())?;
                    Ok(())
                })
                .unwrap()
            {
                break c;
            }
        };
        let mut rest = incoming.rest().to_vec();
        rest.extend_from_slice(&out[at..]);
        assert_eq!(rest, b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(checked.origin, origin());
        assert_eq!((checked.keys, loaded), (6_000, 6_000));
        assert_eq!(staging.db_len(0), 3_000);
        assert_eq!(staging.db_len(5), 3_000);
        assert_eq!(staging.sizes()[5].expires, 1_000);
        let key = b"k5:7";
        let slot = cairn_store::key_slot(key);
        let flags = staging
            .lock(slot)
            .db(5)
            .peek(slot, key, cairn_store::db::Now::from_unix_ms(0))
            .map(|e| e.mc().flags);
        assert_eq!(flags, Some(42));
    }

    #[test]
    fn a_list_loads_whole_and_in_order_from_its_rpush_commands() {
        use cairn_store::Object;
        use cairn_store::types::list::List;
        let server = Server::new(crate::Config::default(), crate::Hooks::default());
        let now = cairn_store::db::Now::from_unix_ms(1_000);
        let lim = cairn_store::Limits::default();
        // Three RPUSH commands' worth, repeats, empty elements and a long one among them.
        let items: Vec<Vec<u8>> = (0..1_300u32)
            .map(|i| match i % 4 {
                0 => i.to_string().into_bytes(),
                1 => b"again".to_vec(),
                2 if i == 6 => vec![b'L'; 20_000],
                2 => Vec::new(),
                _ => format!("e{i}").into_bytes(),
            })
            .collect();
        let key = b"queue";
        let slot = cairn_store::key_slot(key);
        {
            let mut shard = server.keyspace.lock(slot);
            let d = shard.db(3);
            let (_, created) = d.write_or_create(slot, key, now, || {
                Object::List(List::from_items(&items, &lim))
            });
            assert!(created);
            d.set_expire(slot, key, Some(u64::MAX / 2), now);
        }
        let mut out = Vec::new();
        let w = write_to(&server, &mut out, origin(), cut_start(&server)).unwrap();
        assert_eq!(w.keys, 1);
        let staging = server.keyspace.staging();
        let mut loaded = 0;
        let checked = Incoming::new()
            .push(&out, |p| {
                loaded += load_block_into(&staging, p, &lim)?;
                Ok(())
            })
            .unwrap()
            .unwrap();
        assert_eq!((checked.keys, loaded), (1, 1));
        let mut shard = staging.lock(slot);
        let e = shard
            .db(3)
            .peek(slot, key, cairn_store::db::Now::from_unix_ms(0))
            .expect("the list loaded");
        assert_eq!(e.expire_at(), Some(u64::MAX / 2));
        let list = e.object().and_then(Object::as_list).expect("a list");
        assert!(list.iter().eq(items.iter().map(Vec::as_slice)));
        drop(shard);
        // RPUSH onto a key of another type is damage, not a silent overwrite
        let mut bad = Vec::new();
        cairn_protocol::resp::write_command(&mut bad, &[&b"SET"[..], b"s", b"v"]);
        cairn_protocol::resp::write_command(&mut bad, &[&b"RPUSH"[..], b"s", b"x"]);
        assert!(load_block_into(&staging, &bad, &lim).is_err());
    }

    #[test]
    fn a_damaged_snapshot_is_refused_as_it_arrives() {
        let server = server_with_data();
        let mut out = Vec::new();
        write_to(&server, &mut out, origin(), cut_start(&server)).unwrap();
        let mid = out.len() / 2;
        out[mid] ^= 0xff;
        let mut incoming = Incoming::new();
        let err = incoming.push(&out, |_| Ok(())).unwrap_err();
        assert!(err.why.contains("checksum"), "{}", err.why);
    }

    #[test]
    fn a_swapdb_during_the_cut_fails_it() {
        let server = server_with_data();
        let swaps = cut_start(&server);
        server.keyspace.swap_dbs(0, 5);
        let mut out = Vec::new();
        let err = write_to(&server, &mut out, origin(), swaps).unwrap_err();
        assert!(is_swapped(&err));
    }

    #[test]
    fn version_1_files_still_read() {
        let mut v1 = Vec::new();
        v1.extend_from_slice(MAGIC);
        v1.extend_from_slice(&1u16.to_le_bytes());
        v1.extend_from_slice(&77u64.to_le_bytes());
        v1.extend_from_slice(&0u64.to_le_bytes());
        v1.extend_from_slice(&0u32.to_le_bytes());
        v1.extend_from_slice(&0u64.to_le_bytes());
        let sum = xxh3_64(&v1);
        v1.extend_from_slice(&sum.to_le_bytes());
        let c = read(&v1, |_, _| Ok(())).unwrap();
        assert_eq!(c.origin, Origin::at(77));
        let c = Incoming::new().push(&v1, |_| Ok(())).unwrap().unwrap();
        assert_eq!(c.origin, Origin::at(77));
    }
}
