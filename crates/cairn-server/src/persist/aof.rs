//! The append-only file, as Redis 7 lays it out: a directory (`appenddirname`) holding a
//! manifest and numbered parts, a base (here a Cairn snapshot, see [`super::snapshot`])
//! and the increments written since (RESP commands from the write stream):
//!
//! ```text
//! appendonlydir/appendonly.aof.manifest
//!     file appendonly.aof.2.base.csnap seq 2 type b
//!     file appendonly.aof.2.incr.aof seq 2 type i
//! ```
//!
//! Loading replays the base, then each increment in order. An increment that ends in the
//! middle of a command (the server was killed mid-write) is cut back to its last whole
//! command, with a warning saying how much was dropped; any other damage refuses to start
//! with the file, the offset and the repair command.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::replay::{self, Stop};
use super::snapshot;
use crate::server::Server;

/// One part of the file set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub file: String,
    pub seq: u64,
    pub base: bool,
}

/// The manifest: at most one base, then increments in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub parts: Vec<Part>,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut parts = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let field = |name: &str| {
                words
                    .windows(2)
                    .find(|w| w[0] == name)
                    .map(|w| w[1].to_string())
            };
            let (Some(file), Some(seq), Some(kind)) = (field("file"), field("seq"), field("type"))
            else {
                return Err(format!("manifest line {}: '{line}'", n + 1));
            };
            let seq = seq
                .parse()
                .map_err(|_| format!("manifest line {}: bad seq", n + 1))?;
            if file.contains('/') {
                return Err(format!("manifest line {}: a file name with a '/'", n + 1));
            }
            parts.push(Part {
                file,
                seq,
                base: kind == "b",
            });
        }
        Ok(Manifest { parts })
    }

    pub fn render(&self) -> String {
        self.parts
            .iter()
            .map(|p| {
                format!(
                    "file {} seq {} type {}\n",
                    p.file,
                    p.seq,
                    if p.base { "b" } else { "i" }
                )
            })
            .collect()
    }

    /// The increment new writes go to.
    pub fn last_incr(&self) -> Option<&Part> {
        self.parts.iter().rev().find(|p| !p.base)
    }

    pub fn next_seq(&self) -> u64 {
        self.parts.iter().map(|p| p.seq).max().unwrap_or(0) + 1
    }
}

/// Where the files are.
#[derive(Clone, Debug)]
pub struct Layout {
    pub dir: PathBuf,
    pub name: String,
}

impl Layout {
    pub fn from_config(c: &crate::config::Config) -> Layout {
        Layout {
            dir: Path::new(&c.dir).join(&c.appenddirname),
            name: c.appendfilename.clone(),
        }
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.join(format!("{}.manifest", self.name))
    }

    pub fn incr_name(&self, seq: u64) -> String {
        format!("{}.{seq}.incr.aof", self.name)
    }

    pub fn base_name(&self, seq: u64) -> String {
        format!("{}.{seq}.base.csnap", self.name)
    }

    pub fn read_manifest(&self) -> Result<Option<Manifest>, String> {
        match std::fs::read_to_string(self.manifest()) {
            Ok(text) => Manifest::parse(&text)
                .map(Some)
                .map_err(|e| format!("{}: {e}", self.manifest().display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", self.manifest().display())),
        }
    }

    /// Replaces the manifest atomically (temporary file, fsync, rename, fsync the dir).
    pub fn write_manifest(&self, m: &Manifest) -> std::io::Result<()> {
        let path = self.manifest();
        let tmp = path.with_extension("manifest.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(m.render().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        snapshot::sync_dir(&self.dir);
        Ok(())
    }

    /// Opens an increment for appending, creating it if needed.
    pub fn open_incr(&self, file: &str) -> std::io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(file))
    }
}

/// What loading found.
#[derive(Debug)]
pub struct Loaded {
    pub commands: u64,
    pub base_keys: u64,
    pub dropped_bytes: u64,
    /// Where the stream stands after the last increment: the base's origin moved on by
    /// every increment byte replayed (increments are the stream, byte for byte).
    pub origin: snapshot::Origin,
}

/// Loads every part the manifest lists. A torn tail in the last increment is cut off.
pub fn load(server: &Server, layout: &Layout, manifest: &Manifest) -> Result<Loaded, String> {
    let mut loaded = Loaded {
        commands: 0,
        base_keys: 0,
        dropped_bytes: 0,
        origin: snapshot::Origin::at(0),
    };
    let mut session = replay::session();
    let last_incr = manifest.last_incr().map(|p| p.file.clone());
    for part in &manifest.parts {
        let path = layout.dir.join(&part.file);
        if part.base {
            let checked = snapshot::load(server, &path)?;
            loaded.base_keys += checked.keys;
            loaded.origin = checked.origin;
            // The increment after a base continues the stream on the base's database.
            if checked.origin.pos.db != usize::MAX {
                session.db = checked.origin.pos.db;
            }
            continue;
        }
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        match replay::replay(server, &mut session, &data) {
            Ok(r) => {
                loaded.commands += r.commands;
                loaded.origin.pos.offset += data.len() as u64;
            }
            Err((r, Stop::Torn { at })) if Some(&part.file) == last_incr.as_ref() => {
                loaded.commands += r.commands;
                loaded.origin.pos.offset += at as u64;
                let dropped = (data.len() - at) as u64;
                tracing::warn!(
                    "{} ends in the middle of a command (the server stopped mid-write): \
                     loaded up to offset {at}, dropped the last {dropped} bytes",
                    path.display()
                );
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(at as u64))
                    .map_err(|e| format!("cannot truncate {}: {e}", path.display()))?;
                loaded.dropped_bytes += dropped;
            }
            Err((_, stop)) => {
                let (at, why) = match stop {
                    Stop::Torn { at } => (at, "a command is cut short".to_string()),
                    Stop::Bad { at, why } => (at, why),
                };
                return Err(format!(
                    "Bad file format reading the append only file {} at offset {at}: {why}. \
                     Keep a copy of it, then repair it with `cairn check-aof --fix {}`",
                    path.display(),
                    path.display()
                ));
            }
        }
    }
    loaded.origin.pos.db = session.db;
    Ok(loaded)
}

/// `cairn check-aof [--fix] FILE`: where an increment stops being valid RESP. Returns the
/// report and whether the file is whole.
pub fn check(path: &Path, fix: bool) -> Result<(String, bool), String> {
    let data = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut parser = cairn_protocol::RequestParser::new(replay::FILE_LIMITS);
    let mut at = 0;
    let mut commands = 0u64;
    let problem = loop {
        if at == data.len() {
            break None;
        }
        if data[at] != b'*' {
            break Some("expected a RESP array ('*')".to_string());
        }
        match parser.parse(&data[at..]) {
            Ok(cairn_protocol::resp::request::Parsed::Command { len, .. }) => {
                at += len;
                commands += 1;
            }
            Ok(cairn_protocol::resp::request::Parsed::Nothing { len }) => at += len,
            Ok(cairn_protocol::resp::request::Parsed::Incomplete { .. }) => {
                break Some("the file ends in the middle of a command".to_string());
            }
            Err(e) => break Some(e.message()),
        }
    };
    match problem {
        None => Ok((
            format!(
                "{}: {commands} commands, {} bytes: OK",
                path.display(),
                data.len()
            ),
            true,
        )),
        Some(why) if fix => {
            OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|f| f.set_len(at as u64))
                .map_err(|e| format!("cannot truncate {}: {e}", path.display()))?;
            Ok((
                format!(
                    "{}: {why} at offset {at}; truncated to {at} bytes ({commands} whole commands kept, {} bytes dropped)",
                    path.display(),
                    data.len() - at
                ),
                true,
            ))
        }
        Some(why) => Ok((
            format!(
                "{}: {why} at offset {at} ({commands} whole commands before it, {} bytes after). \
                 Run `cairn check-aof --fix {}` to cut the file there",
                path.display(),
                data.len() - at,
                path.display()
            ),
            false,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip() {
        let text = "file appendonly.aof.2.base.csnap seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.parts.len(), 2);
        assert!(m.parts[0].base);
        assert_eq!(m.last_incr().unwrap().file, "appendonly.aof.2.incr.aof");
        assert_eq!(m.next_seq(), 3);
        assert_eq!(m.render(), text);
        assert!(Manifest::parse("file ../x seq 1 type i").is_err());
        assert!(Manifest::parse("nonsense").is_err());
    }
}
