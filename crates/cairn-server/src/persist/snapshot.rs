//! Snapshot files: the keyspace at one moment, as the commands that recreate it, framed
//! in checksummed blocks. One format serves `dbfilename` (SAVE, BGSAVE, SHUTDOWN) and the
//! base of the append-only file (BGREWRITEAOF).
//!
//! ```text
//! header   "CAIRNSNP" | version u16 LE | stream offset u64 LE | created unix ms u64 LE
//! block*   length u32 LE | xxh3-64 of payload u64 LE | payload (RESP commands)
//! end      length 0 u32 | keys u64 LE | xxh3-64 of everything before it u64 LE
//! ```
//!
//! A snapshot is written without fork() and without copying the dataset: shard by shard,
//! each shard's keys are encoded under its lock (one instant per shard, a few
//! milliseconds for a million keys over 16 shards), then written out with the lock
//! released, so the server keeps serving and memory grows by one shard's encoding at
//! most. It records the stream offset at which it started; a write made between that
//! offset and its shard's turn is both in the snapshot and in the stream after it, and
//! replaying it again changes nothing, because every stream record is a state, not a
//! delta (see [`super::stream`]).
//!
//! Files are written to a temporary name, fsynced, renamed over the old one and the
//! directory fsynced: a crash at any moment leaves the previous snapshot whole.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use super::replay::{self, Stop};
use super::stream::{encode_entry, select};
use crate::server::Server;

const MAGIC: &[u8; 8] = b"CAIRNSNP";
pub const VERSION: u16 = 1;
const HEADER: usize = 8 + 2 + 8 + 8;
/// A block is flushed once its payload reaches this size.
const BLOCK: usize = 1 << 20;

/// What writing a snapshot produced.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    pub keys: u64,
    pub bytes: u64,
    pub offset: u64,
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

/// Writes the keyspace as a snapshot to `path` (through a temporary file). `offset` is
/// the stream offset the snapshot starts at.
pub fn write(server: &Server, path: &Path, offset: u64) -> std::io::Result<Written> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = write_to(server, &tmp, offset);
    match result {
        Ok(w) => {
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent() {
                sync_dir(dir);
            }
            Ok(w)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn write_to(server: &Server, tmp: &Path, offset: u64) -> std::io::Result<Written> {
    let file = File::create(tmp)?;
    let mut b = Blocks {
        out: BufWriter::with_capacity(1 << 20, file),
        whole: Xxh3::new(),
        written: 0,
    };
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&offset.to_le_bytes());
    header.extend_from_slice(&created.to_le_bytes());
    b.put(&header)?;
    let ks = &server.keyspace;
    let mut keys = 0u64;
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    for shard in 0..ks.shard_count() {
        // The shard at one instant: encoded whole under its lock, written out after.
        {
            let now = server.clock.at(Instant::now());
            let guard = ks.lock_shard(shard);
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
    b.put(&0u32.to_le_bytes())?;
    b.put(&keys.to_le_bytes())?;
    let sum = b.whole.digest();
    b.out.write_all(&sum.to_le_bytes())?;
    let file = b.out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(Written {
        keys,
        bytes: b.written + 8,
        offset,
    })
}

/// What a snapshot file holds, checked but not loaded.
#[derive(Debug)]
pub struct Checked {
    pub offset: u64,
    pub created_ms: u64,
    pub keys: u64,
    pub blocks: usize,
}

/// Damage found in a snapshot file.
#[derive(Debug)]
pub struct Damage {
    pub at: u64,
    pub why: String,
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
    if data.len() < HEADER || &data[..8] != MAGIC {
        return Err(bad(0, "not a Cairn snapshot (bad magic)"));
    }
    let version = u16::from_le_bytes(data[8..10].try_into().unwrap());
    if version != VERSION {
        return Err(bad(8, &format!("unsupported snapshot version {version}")));
    }
    let offset = u64::from_le_bytes(data[10..18].try_into().unwrap());
    let created_ms = u64::from_le_bytes(data[18..26].try_into().unwrap());
    let mut at = HEADER;
    let mut blocks = 0;
    loop {
        if data.len() < at + 4 {
            return Err(bad(at, "file ends before its end marker (truncated)"));
        }
        let len = u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            if data.len() < at + 4 + 16 {
                return Err(bad(at, "end marker cut short (truncated)"));
            }
            let keys = u64::from_le_bytes(data[at + 4..at + 12].try_into().unwrap());
            let sum = u64::from_le_bytes(data[at + 12..at + 20].try_into().unwrap());
            if xxh3_64(&data[..at + 12]) != sum {
                return Err(bad(at + 12, "whole-file checksum mismatch"));
            }
            if data.len() != at + 20 {
                return Err(bad(at + 20, "bytes after the end marker"));
            }
            return Ok(Checked {
                offset,
                created_ms,
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

/// Loads a snapshot file into the keyspace. Errors name the file, the offset and the
/// command that checks it.
pub fn load(server: &Server, path: &Path) -> Result<Checked, String> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| format!("cannot read snapshot {}: {e}", path.display()))?;
    let mut session = replay::session();
    let result = read(&data, |payload, base| {
        // Blocks stand alone: each starts in database 0 unless it selects another.
        session.db = 0;
        match replay::replay(server, &mut session, payload) {
            Ok(_) => Ok(()),
            Err((_, Stop::Torn { at })) => Err(Damage {
                at: base + at as u64,
                why: "a command is cut short inside a block".into(),
            }),
            Err((_, Stop::Bad { at, why })) => Err(Damage {
                at: base + at as u64,
                why,
            }),
        }
    });
    result.map_err(|d| {
        format!(
            "Bad snapshot {} at offset {}: {}. Keep a copy of it, then check it with `cairn check-snapshot {}`",
            path.display(),
            d.at,
            d.why,
            path.display()
        )
    })
}
