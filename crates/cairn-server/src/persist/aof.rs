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
//! with the file, the offset and the repair command. So does a set that is not whole (an
//! empty or unreadable manifest, a part it names that is missing, parts without a
//! manifest: [`Layout::inspect`]), unless `aof-accept-data-loss yes` says to load what
//! can be read.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::durable::sync_dir;

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
            let base = match kind.as_str() {
                "b" => true,
                "i" => false,
                // Redis's history parts: already replaced, never loaded.
                "h" => continue,
                _ => return Err(format!("manifest line {}: unknown type '{kind}'", n + 1)),
            };
            if base && !parts.is_empty() {
                return Err(format!(
                    "manifest line {}: a base after other parts (at most one base, first)",
                    n + 1
                ));
            }
            if parts.iter().any(|p: &Part| p.file == file) {
                return Err(format!("manifest line {}: {file} is listed twice", n + 1));
            }
            parts.push(Part { file, seq, base });
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
    /// On failure the old manifest stays as it was and the temporary file goes.
    pub fn write_manifest(&self, m: &Manifest) -> std::io::Result<()> {
        let path = self.manifest();
        let tmp = path.with_extension("manifest.tmp");
        let result = File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(m.render().as_bytes())?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, &path));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        sync_dir(&self.dir);
        Ok(())
    }

    /// Whether `file` is named as one of this set's parts (`NAME.SEQ.incr.aof`,
    /// `NAME.SEQ.base.csnap`, or a Redis base `.base.rdb` / `.base.aof`); its seq and
    /// whether it is a base.
    pub fn part_name(&self, file: &str) -> Option<(u64, bool)> {
        let rest = file.strip_prefix(&self.name)?.strip_prefix('.')?;
        let (seq, kind) = rest.split_once('.')?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let base = match kind {
            "incr.aof" => false,
            "base.csnap" | "base.rdb" | "base.aof" => true,
            _ => return None,
        };
        Some((seq.parse().ok()?, base))
    }

    /// The parts in the directory, whatever the manifest says, with their sizes.
    pub fn parts_on_disk(&self) -> std::io::Result<Vec<(Part, u64)>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(file) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if let Some((seq, base)) = self.part_name(&file) {
                let size = entry.metadata().map_or(0, |m| m.len());
                found.push((Part { file, seq, base }, size));
            }
        }
        found.sort_by_key(|(p, _)| (p.seq, !p.base));
        Ok(found)
    }

    /// A sequence number above every part in the directory and in `m`: a new part never
    /// lands on an old file.
    pub fn free_seq(&self, m: &Manifest) -> u64 {
        let on_disk = self
            .parts_on_disk()
            .ok()
            .and_then(|parts| parts.iter().map(|(p, _)| p.seq).max())
            .unwrap_or(0);
        m.next_seq().max(on_disk + 1)
    }

    /// Removes every part in the directory and the manifest (a replica's full sync
    /// replaces the history they hold). The manifest goes first, so a crash midway leaves
    /// no manifest naming missing parts.
    pub fn remove_all(&self) {
        let _ = std::fs::remove_file(self.manifest());
        sync_dir(&self.dir);
        for (part, _) in self.parts_on_disk().unwrap_or_default() {
            let _ = std::fs::remove_file(self.dir.join(&part.file));
        }
        sync_dir(&self.dir);
    }

    /// What the directory holds at start-up. Anything that would make the node start
    /// without data it had (a manifest that is empty, unparsable or unreadable; a part
    /// it names that is missing or not a file; parts with data and no manifest) refuses
    /// to start, naming the file and the way out, unless `accept_loss`
    /// (`aof-accept-data-loss yes`): then what can be read is returned to load.
    pub fn inspect(&self, accept_loss: bool) -> Result<Found, String> {
        let dir = self.dir.display();
        let manifest_path = self.manifest();
        let shown = manifest_path.display();
        let on_disk = self.parts_on_disk().map_err(|e| {
            format!(
                "Cannot read the append-only directory {dir}: {e}. Cairn does not start without \
                 the append-only file it is configured to load: make {dir} a directory it can \
                 read and write, or point `dir` / `appenddirname` elsewhere"
            )
        })?;
        let next_seq = on_disk.iter().map(|(p, _)| p.seq).max().unwrap_or(0) + 1;
        let holding: Vec<&str> = on_disk
            .iter()
            .filter(|(_, size)| *size > 0)
            .map(|(p, _)| p.file.as_str())
            .collect();
        let beside = if holding.is_empty() {
            String::new()
        } else {
            format!(", while {} beside it hold data", holding.join(", "))
        };
        let check = format!("check the set with `cairn check-aof {shown}`");
        let (problem, check, salvage) = match std::fs::read(&manifest_path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if holding.is_empty() {
                    return Ok(Found::New { next_seq });
                }
                (
                    format!(
                        "The append-only directory {dir} holds {} but no manifest {shown}: \
                         starting would ignore the data they hold",
                        holding.join(", ")
                    ),
                    format!("check the parts with `cairn check-aof {dir}/FILE`"),
                    None,
                )
            }
            Err(e) => (
                format!("Cannot read the append-only manifest {shown}: {e}"),
                check,
                None,
            ),
            Ok(bytes) => match std::str::from_utf8(&bytes)
                .map_err(|_| "it is not text".to_string())
                .and_then(Manifest::parse)
            {
                Err(e) => (
                    format!("The append-only manifest {shown} cannot be read: {e}{beside}"),
                    check,
                    None,
                ),
                Ok(m) if m.parts.is_empty() => (
                    format!(
                        "The append-only manifest {shown} is empty ({} bytes): it names no part{beside}",
                        bytes.len()
                    ),
                    check,
                    None,
                ),
                Ok(m) => {
                    let mut lost = Vec::new();
                    for part in &m.parts {
                        let path = self.dir.join(&part.file);
                        match std::fs::metadata(&path) {
                            Ok(meta) if meta.is_file() => {}
                            Ok(_) => {
                                lost.push(format!("{}, which is not a regular file", part.file))
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                                lost.push(format!("{}, which does not exist", part.file))
                            }
                            Err(e) => {
                                lost.push(format!("{}, which cannot be read ({e})", part.file))
                            }
                        }
                    }
                    if lost.is_empty() {
                        return Ok(Found::Whole(m));
                    }
                    let problem = format!(
                        "The append-only file set in {dir} is incomplete: its manifest {shown} names {}",
                        lost.join(", and ")
                    );
                    (problem, check, Some(m))
                }
            },
        };
        if !accept_loss {
            return Err(format!(
                "{problem}. Cairn does not start without data it expects. Keep a copy of {dir}, \
                 {check}, and restore what is missing from a backup; or, to start with what can \
                 be read and lose the rest, start once with `aof-accept-data-loss yes` \
                 (`--aof-accept-data-loss yes`), which writes a new append-only file"
            ));
        }
        let load = match salvage {
            // The manifest is good: its parts that are there.
            Some(m) => Manifest {
                parts: m
                    .parts
                    .into_iter()
                    .filter(|p| {
                        std::fs::metadata(self.dir.join(&p.file)).is_ok_and(|m| m.is_file())
                    })
                    .collect(),
            },
            // No manifest to go by: the newest base and the increments from its seq on
            // (a rewrite writes base N and increment N together, and removes older parts
            // only after its manifest is in place), or every increment if there is no base.
            None => {
                let base = on_disk
                    .iter()
                    .rev()
                    .find(|(p, _)| p.base)
                    .map(|(p, _)| p.clone());
                let from = base.as_ref().map_or(0, |b| b.seq);
                Manifest {
                    parts: base
                        .into_iter()
                        .chain(
                            on_disk
                                .iter()
                                .filter(|(p, _)| !p.base && p.seq >= from)
                                .map(|(p, _)| p.clone()),
                        )
                        .collect(),
                }
            }
        };
        let ignored = on_disk
            .iter()
            .filter(|(p, _)| !load.parts.iter().any(|l| l.file == p.file))
            .map(|(p, _)| p.file.clone())
            .collect();
        Ok(Found::Salvage {
            load,
            ignored,
            problem,
            next_seq,
        })
    }

    /// Opens an increment for appending, creating it if needed.
    pub fn open_incr(&self, file: &str) -> std::io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(file))
    }
}

/// What the append-only directory holds at start-up ([`Layout::inspect`]).
#[derive(Debug)]
pub enum Found {
    /// No manifest, and no part holding data: a new append-only file starts. New parts
    /// take sequence numbers from `next_seq` on.
    New { next_seq: u64 },
    /// A manifest whose parts are all there.
    Whole(Manifest),
    /// A damaged set, started anyway (`aof-accept-data-loss yes`): `load` lists the parts
    /// that can be read, in order; `ignored` the part files in the directory left out;
    /// `problem` says what was wrong.
    Salvage {
        load: Manifest,
        ignored: Vec<String>,
        problem: String,
        next_seq: u64,
    },
}

/// The bytes in every part the manifest names.
pub fn parts_size(layout: &Layout, manifest: &Manifest) -> u64 {
    manifest
        .parts
        .iter()
        .filter_map(|p| std::fs::metadata(layout.dir.join(&p.file)).ok())
        .map(|m| m.len())
        .sum()
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
        assert!(Manifest::parse("file a seq 1 type x").is_err());
        assert!(Manifest::parse("file a seq 1 type i\nfile b seq 1 type b").is_err());
        assert!(Manifest::parse("file a seq 1 type i\nfile a seq 2 type i").is_err());
        assert_eq!(Manifest::parse("").unwrap().parts, vec![]);
    }

    #[test]
    fn part_names() {
        let layout = Layout {
            dir: PathBuf::from("/d"),
            name: "appendonly.aof".into(),
        };
        assert_eq!(
            layout.part_name("appendonly.aof.3.incr.aof"),
            Some((3, false))
        );
        assert_eq!(
            layout.part_name("appendonly.aof.12.base.csnap"),
            Some((12, true))
        );
        assert_eq!(
            layout.part_name("appendonly.aof.1.base.rdb"),
            Some((1, true))
        );
        assert_eq!(layout.part_name("appendonly.aof.manifest"), None);
        assert_eq!(layout.part_name("appendonly.aof.manifest.tmp"), None);
        assert_eq!(layout.part_name("appendonly.aof.3.base.tmp-77"), None);
        assert_eq!(layout.part_name("appendonly.aof.x.incr.aof"), None);
        assert_eq!(layout.part_name("other.aof.3.incr.aof"), None);
    }
}
