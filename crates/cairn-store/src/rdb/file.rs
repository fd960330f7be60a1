//! Whole RDB files, as redis-server writes `dump.rdb` (RDB versions 1 to 12: Redis up to
//! 7.4), read so that a Redis keyspace can move into Cairn (`cairn server --import-rdb`).
//!
//! ```text
//! "REDIS" "0010"                          magic and 4-digit version
//! 0xFA <string> <string>                  AUX field (redis-ver, ctime, ...): skipped
//! 0xFE <length>                           SELECTDB
//! 0xFB <length> <length>                  RESIZEDB: table sizes, ignored
//! 0xFC <u64 LE ms> | 0xFD <u32 LE s>      the expiry of the next key
//! 0xF9 <u8> | 0xF8 <length>               LFU frequency / LRU idle of the next key: ignored
//! 0xF4 <length> x3                        SLOT_INFO (7.4): ignored
//! 0xF5 <string>                           a function library: skipped, counted
//! 0xF7 ...                                module auxiliary data: refused
//! <type> <string key> <value>             a key, its value in that type's form (payload.rs)
//! 0xFF <u64 LE crc64>                     EOF, the CRC-64 of everything before the checksum
//! ```
//!
//! Every read goes through [`Input`], so a length is checked against the bytes left
//! before anything is allocated for it; a malformed file is a [`FileError`] naming the
//! byte offset, never a panic.

use std::fmt;

use super::input::Input;
use super::payload::{CRC64, READABLE_VERSIONS, read_value};
use super::{length, string};
use crate::object::Limits;
use crate::value::Value;

const OP_SLOT_INFO: u8 = 0xF4;
const OP_FUNCTION2: u8 = 0xF5;
const OP_FUNCTION_PRE_GA: u8 = 0xF6;
const OP_MODULE_AUX: u8 = 0xF7;
const OP_IDLE: u8 = 0xF8;
const OP_FREQ: u8 = 0xF9;
const OP_AUX: u8 = 0xFA;
const OP_RESIZEDB: u8 = 0xFB;
const OP_EXPIRETIME_MS: u8 = 0xFC;
const OP_EXPIRETIME: u8 = 0xFD;
const OP_SELECTDB: u8 = 0xFE;
const OP_EOF: u8 = 0xFF;

/// The first RDB version with a checksum after EOF.
const FIRST_CHECKSUMMED: u16 = 5;

/// One key read from the file.
#[derive(Debug)]
pub struct Loaded {
    /// The database it was in (SELECTDB), as the file says: the caller checks it exists.
    pub db: u64,
    pub key: Vec<u8>,
    pub value: Value,
    /// When it expires, Unix ms (0 or a past time: already expired); `None`: never.
    pub expire_at: Option<u64>,
}

/// What a whole file held, besides its keys.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileSummary {
    pub version: u16,
    /// The `redis-ver` AUX field, if the file has one.
    pub redis_ver: Option<String>,
    pub keys: u64,
    /// The distinct databases that held at least one key.
    pub databases: Vec<u64>,
    /// Redis function libraries (FUNCTION2), skipped: Cairn has no scripting yet.
    pub functions_skipped: u64,
    /// Whether the file carried a checksum (absent before version 5, or written as 0).
    pub checksummed: bool,
}

/// Why a file was refused. Offsets count bytes from the start of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileError {
    /// Not starting with `REDIS` and four digits.
    NotRdb,
    /// A version this reader does not know (Redis newer than 7.4).
    Version(u16),
    /// The file ends in the middle of something.
    Truncated { at: usize },
    /// The CRC-64 after EOF does not match the file.
    BadChecksum { stored: u64, computed: u64 },
    /// An object type (or opcode) no Redis up to 7.4 writes, or a module's.
    UnknownType { kind: u8, at: usize },
    /// A value that does not read as its type's form; `at` is where the key starts.
    BadValue { kind: u8, at: usize, key: Vec<u8> },
    /// Something else malformed (a length form that does not exist, an AUX field that
    /// is no string).
    Bad { at: usize, what: &'static str },
    /// Module auxiliary data: it needs the module, which Cairn does not have.
    ModuleAux { at: usize },
    /// Redis 7.0's pre-release function format, which Redis itself no longer reads.
    FunctionPreGa { at: usize },
    /// Refused by the caller's `each` (a database the server does not have, ...).
    Rejected { at: usize, why: String },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::NotRdb => write!(f, "not an RDB file (no REDIS magic and version)"),
            FileError::Version(v) => write!(
                f,
                "RDB version {v} is newer than this Cairn reads (1 to {}: Redis up to 7.4)",
                READABLE_VERSIONS.end()
            ),
            FileError::Truncated { at } => write!(f, "truncated at offset {at}"),
            FileError::BadChecksum { stored, computed } => write!(
                f,
                "bad checksum: the file says {stored:016x}, its bytes give {computed:016x}"
            ),
            FileError::UnknownType { kind, at } => {
                write!(f, "unknown type 0x{kind:02x} at offset {at}")
            }
            FileError::BadValue { kind, at, key } => write!(
                f,
                "bad value of type 0x{kind:02x} for key '{}' at offset {at}",
                String::from_utf8_lossy(key)
            ),
            FileError::Bad { at, what } => write!(f, "{what} at offset {at}"),
            FileError::ModuleAux { at } => write!(
                f,
                "module auxiliary data at offset {at}: the file needs a Redis module, which \
                 Cairn does not load"
            ),
            FileError::FunctionPreGa { at } => write!(
                f,
                "a function in Redis 7.0's pre-release format at offset {at}, which Redis \
                 itself no longer reads"
            ),
            FileError::Rejected { at, why } => write!(f, "{why} (key at offset {at})"),
        }
    }
}

impl std::error::Error for FileError {}

/// Reads a whole RDB file, handing each key to `each` in file order; stops at the first
/// error (from the file or from `each`). A key is handed over before the checksum at the
/// end is checked: a caller that must not keep anything of a damaged file collects the
/// keys and uses them once this returns `Ok`. Keys already expired are handed over too
/// (the caller decides, against its own clock).
pub fn read_file(
    bytes: &[u8],
    lim: &Limits,
    mut each: impl FnMut(Loaded) -> Result<(), String>,
) -> Result<FileSummary, FileError> {
    if bytes.len() < 9 || &bytes[..5] != b"REDIS" || !bytes[5..9].iter().all(u8::is_ascii_digit) {
        return Err(
            if b"REDIS".starts_with(&bytes[..bytes.len().min(5)]) && bytes.len() < 9 {
                FileError::Truncated { at: bytes.len() }
            } else {
                FileError::NotRdb
            },
        );
    }
    let version = bytes[5..9]
        .iter()
        .fold(0u16, |v, d| v * 10 + u16::from(d - b'0'));
    if !READABLE_VERSIONS.contains(&version) {
        return Err(FileError::Version(version));
    }
    let mut summary = FileSummary {
        version,
        ..FileSummary::default()
    };
    let mut r = Reader {
        bytes,
        input: Input::new(&bytes[9..]),
    };
    let mut db = 0u64;
    let mut expire_at: Option<u64> = None;
    loop {
        let at = r.offset();
        let op = r.u8()?;
        match op {
            OP_AUX => {
                let name = r.string("an AUX field name")?;
                let value = r.string("an AUX field value")?;
                if name == b"redis-ver" {
                    summary.redis_ver = Some(String::from_utf8_lossy(&value).into_owned());
                }
            }
            OP_SELECTDB => db = r.len("a database number")?,
            OP_RESIZEDB => {
                r.len("a RESIZEDB size")?;
                r.len("a RESIZEDB size")?;
            }
            OP_SLOT_INFO => {
                for _ in 0..3 {
                    r.len("a SLOT_INFO field")?;
                }
            }
            OP_EXPIRETIME_MS => {
                let ms = i64::from_le_bytes(r.array()?);
                expire_at = Some(u64::try_from(ms).unwrap_or(0));
            }
            OP_EXPIRETIME => {
                let s = i32::from_le_bytes(r.array()?);
                expire_at = Some(u64::try_from(s).unwrap_or(0).saturating_mul(1000));
            }
            OP_FREQ => {
                r.u8()?;
            }
            OP_IDLE => {
                r.len("an IDLE time")?;
            }
            OP_FUNCTION2 => {
                r.string("a function library")?;
                summary.functions_skipped += 1;
            }
            OP_FUNCTION_PRE_GA => return Err(FileError::FunctionPreGa { at }),
            OP_MODULE_AUX => return Err(FileError::ModuleAux { at }),
            OP_EOF => {
                let end = r.offset();
                if version >= FIRST_CHECKSUMMED {
                    let stored = u64::from_le_bytes(r.array()?);
                    if stored != 0 {
                        let computed = CRC64.checksum(&bytes[..end]);
                        if computed != stored {
                            return Err(FileError::BadChecksum { stored, computed });
                        }
                        summary.checksummed = true;
                    }
                }
                summary.databases.sort_unstable();
                summary.databases.dedup();
                return Ok(summary);
            }
            kind => {
                let key = r.string("a key")?;
                let start = r.offset();
                let value = r.value(kind, at, &key, lim)?;
                debug_assert!(r.offset() > start);
                summary.keys += 1;
                if summary.databases.last() != Some(&db) {
                    summary.databases.push(db);
                }
                each(Loaded {
                    db,
                    key,
                    value,
                    expire_at: expire_at.take(),
                })
                .map_err(|why| FileError::Rejected { at, why })?;
            }
        }
    }
}

/// The cursor over the file after its header, which knows its offset.
struct Reader<'a> {
    bytes: &'a [u8],
    input: Input<'a>,
}

impl<'a> Reader<'a> {
    fn offset(&self) -> usize {
        self.bytes.len() - self.input.remaining()
    }

    fn truncated(&self) -> FileError {
        FileError::Truncated {
            at: self.bytes.len(),
        }
    }

    fn u8(&mut self) -> Result<u8, FileError> {
        self.input.u8().map_err(|_| self.truncated())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FileError> {
        self.input.array().map_err(|_| self.truncated())
    }

    /// Runs `read` on a copy of the cursor, and tells a read that ran off the end of the
    /// file (truncated) from one that found something malformed (`what` at the offset
    /// where it started).
    fn run<T>(
        &mut self,
        what: &'static str,
        read: impl FnOnce(&mut Input<'a>) -> super::error::Result<T>,
    ) -> Result<T, FileError> {
        let at = self.offset();
        let mut probe = self.input;
        match read(&mut probe) {
            Ok(v) => {
                self.input = probe;
                Ok(v)
            }
            Err(_) if self.ran_off(at) => Err(self.truncated()),
            Err(_) => Err(FileError::Bad { at, what }),
        }
    }

    /// Whether a read that failed starting at `at` may have failed for want of bytes: the
    /// file does not end in a whole EOF and checksum, so it was cut short somewhere at or
    /// after `at`.
    fn ran_off(&self, at: usize) -> bool {
        let b = self.bytes;
        let n = b.len();
        // A whole file ends in EOF and the 8-byte checksum, which matches (or is 0).
        let whole = n >= at + 9 && b[n - 9] == OP_EOF && {
            let stored = u64::from_le_bytes(b[n - 8..].try_into().expect("8 bytes"));
            stored == 0 || CRC64.checksum(&b[..n - 8]) == stored
        };
        !whole
    }

    fn len(&mut self, what: &'static str) -> Result<u64, FileError> {
        self.run(what, length::read_len)
    }

    fn string(&mut self, what: &'static str) -> Result<Vec<u8>, FileError> {
        self.run(what, string::read)
    }

    /// A value of type `kind`, made a keyspace [`Value`] exactly as RESTORE makes one
    /// (`dump::from_rdb`).
    fn value(
        &mut self,
        kind: u8,
        key_at: usize,
        key: &[u8],
        lim: &Limits,
    ) -> Result<Value, FileError> {
        let start = self.offset();
        let mut probe = self.input;
        let read = read_value(kind, &mut probe, lim.stream_node);
        let Ok(v) = read else {
            return Err(if self.ran_off(start) {
                self.truncated()
            } else if is_known_type(kind) {
                FileError::BadValue {
                    kind,
                    at: key_at,
                    key: key.to_vec(),
                }
            } else {
                FileError::UnknownType { kind, at: key_at }
            });
        };
        self.input = probe;
        crate::dump::from_rdb(v, lim).map_err(|_| FileError::BadValue {
            kind,
            at: key_at,
            key: key.to_vec(),
        })
    }
}

/// Whether `kind` is an object type some Redis writes and Cairn parses.
fn is_known_type(kind: u8) -> bool {
    use super::types::*;
    matches!(
        kind,
        STRING
            | LIST
            | SET
            | ZSET
            | HASH
            | ZSET_2
            | LIST_ZIPLIST
            | SET_INTSET
            | ZSET_ZIPLIST
            | HASH_ZIPLIST
            | LIST_QUICKLIST
            | STREAM_LISTPACKS
            | HASH_LISTPACK
            | ZSET_LISTPACK
            | LIST_QUICKLIST_2
            | STREAM_LISTPACKS_2
            | SET_LISTPACK
            | STREAM_LISTPACKS_3
            | HASH_METADATA_PRE_GA
            | HASH_LISTPACK_EX_PRE_GA
            | HASH_METADATA
            | HASH_LISTPACK_EX
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Object;

    fn hex(s: &str) -> Vec<u8> {
        let s = s.trim();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// What redis-server 7.0.15 SAVEd (see `fixture_holds_what_redis_was_given`).
    fn fixture() -> Vec<u8> {
        hex(include_str!("testdata/redis-7.0-file.hex"))
    }

    fn read_all(bytes: &[u8]) -> Result<(FileSummary, Vec<Loaded>), FileError> {
        let mut keys = Vec::new();
        let summary = read_file(bytes, &Limits::default(), |l| {
            keys.push(l);
            Ok(())
        })?;
        Ok((summary, keys))
    }

    fn find<'a>(keys: &'a [Loaded], db: u64, key: &str) -> &'a Loaded {
        keys.iter()
            .find(|l| l.db == db && l.key == key.as_bytes())
            .unwrap_or_else(|| panic!("no key {key} in db {db}"))
    }

    fn object(l: &Loaded) -> &Object {
        match &l.value {
            Value::Obj(o) => o,
            other => panic!("{other:?} is no object"),
        }
    }

    /// The fixture: redis-server 7.0.15 given, in db 0, `SET str hello`, `SET int
    /// 12345`, `SET neg -7`, `SET big abc×100`, `SET ttl1 v EX 100000`, `SET ttl2 v PX
    /// 50000000`, `RPUSH smalllist a b c 1 -300 100000`, `RPUSH biglist` 1000 integers
    /// (i*7-3000), `SADD intset 1 2 3 -70000`, `SADD strset a b c`, `HSET smallhash a 1 b
    /// hello`, `hash200` (field1..200 → value1..200), `ZADD zs 1 a 2.5 b -inf c` with
    /// `EXPIRE zs 200000`, `zbig` (m1..200 scored i/3), a stream `st` (1-1 f v, 2-1 f w g
    /// x) with group g1 having delivered 1-1 to alice; in db 1 `db1key`, `db1hash`,
    /// `db1ttl` (EX 3600); in db 3 `SADD db3set x y`; one function library; then SAVE.
    #[test]
    fn fixture_holds_what_redis_was_given() {
        let (summary, keys) = read_all(&fixture()).unwrap();
        assert_eq!(summary.version, 10);
        assert_eq!(summary.redis_ver.as_deref(), Some("7.0.15"));
        assert_eq!(summary.databases, vec![0, 1, 3]);
        assert_eq!(summary.functions_skipped, 1);
        assert!(summary.checksummed);
        assert_eq!(summary.keys, 19);
        assert_eq!(keys.len(), 19);
        assert_eq!(keys.iter().filter(|l| l.db == 1).count(), 3);

        assert_eq!(find(&keys, 0, "str").value, Value::from_bytes(b"hello"));
        assert_eq!(find(&keys, 0, "int").value, Value::Int(12345));
        assert_eq!(find(&keys, 0, "neg").value, Value::Int(-7));
        assert_eq!(
            find(&keys, 0, "big").value,
            Value::from_bytes(&b"abc".repeat(100))
        );
        assert_eq!(find(&keys, 0, "str").expire_at, None);
        let t1 = find(&keys, 0, "ttl1").expire_at.unwrap();
        let t2 = find(&keys, 0, "ttl2").expire_at.unwrap();
        // EX 100000 and PX 50000000, set within the same second
        assert!((t1 - t2).abs_diff(50_000_000) < 5_000, "{t1} {t2}");
        assert!(find(&keys, 0, "zs").expire_at.is_some());
        assert!(find(&keys, 1, "db1ttl").expire_at.is_some());

        let Object::List(l) = object(find(&keys, 0, "biglist")) else {
            panic!("biglist")
        };
        let want: Vec<Vec<u8>> = (1..=1000i64)
            .map(|i| (i * 7 - 3000).to_string().into_bytes())
            .collect();
        assert_eq!(l.iter().map(|e| e.to_vec()).collect::<Vec<_>>(), want);
        let Object::Hash(h) = object(find(&keys, 0, "hash200")) else {
            panic!("hash200")
        };
        assert_eq!(h.len(), 200);
        let Object::Set(s) = object(find(&keys, 0, "intset")) else {
            panic!("intset")
        };
        let mut m = s.members();
        m.sort();
        assert_eq!(
            m,
            vec![
                b"-70000".to_vec(),
                b"1".to_vec(),
                b"2".to_vec(),
                b"3".to_vec()
            ]
        );
        let Object::ZSet(z) = object(find(&keys, 0, "zbig")) else {
            panic!("zbig")
        };
        assert_eq!(z.len(), 200);
        assert!(matches!(object(find(&keys, 0, "st")), Object::Stream(_)));
        assert!(matches!(object(find(&keys, 3, "db3set")), Object::Set(_)));
    }

    #[test]
    fn every_truncation_is_refused_with_its_offset() {
        let whole = fixture();
        for cut in 0..whole.len() {
            let err = read_all(&whole[..cut]).unwrap_err();
            match err {
                FileError::Truncated { at } => assert_eq!(at, cut),
                // cut inside the header's magic
                FileError::NotRdb if cut < 9 => {}
                other => panic!("cut at {cut}: {other}"),
            }
        }
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum_or_the_format() {
        let whole = fixture();
        // the last byte of "hello": still a good file, but for its checksum
        let at = whole.windows(5).position(|w| w == b"hello").unwrap() + 4;
        let mut bad = whole.clone();
        bad[at] ^= 0x20;
        assert!(matches!(
            read_all(&bad).unwrap_err(),
            FileError::BadChecksum { .. }
        ));
        assert!(
            read_all(&bad)
                .unwrap_err()
                .to_string()
                .starts_with("bad checksum")
        );
        // every byte flipped in turn: an error of some kind, never a panic
        for i in 9..whole.len() {
            let mut bad = whole.clone();
            bad[i] ^= 0xff;
            assert!(read_all(&bad).is_err(), "flip at {i}");
        }
        // a zero checksum is "not computed": accepted
        let mut unchecked = whole.clone();
        let n = unchecked.len();
        unchecked[n - 8..].fill(0);
        let (summary, _) = read_all(&unchecked).unwrap();
        assert!(!summary.checksummed);
    }

    #[test]
    fn headers_and_opcodes_refused_by_name() {
        let mut v13 = fixture();
        v13[5..9].copy_from_slice(b"0013");
        let err = read_all(&v13).unwrap_err();
        assert_eq!(err, FileError::Version(13));
        assert!(err.to_string().contains("RDB version 13"), "{err}");
        assert_eq!(read_all(b"GARBAGE00000").unwrap_err(), FileError::NotRdb);
        assert_eq!(read_all(b"REDIS0x10").unwrap_err(), FileError::NotRdb);

        /// A version-9 file of `body`, with its checksum.
        fn file(body: &[u8]) -> Vec<u8> {
            let mut f = b"REDIS0009".to_vec();
            f.extend_from_slice(body);
            f.push(OP_EOF);
            let crc = CRC64.checksum(&f);
            f.extend_from_slice(&crc.to_le_bytes());
            f
        }
        let err = read_all(&file(&[OP_MODULE_AUX, 0x01])).unwrap_err();
        assert_eq!(err, FileError::ModuleAux { at: 9 });
        assert!(err.to_string().contains("module"));
        let err = read_all(&file(&[0x08, 0x01, b'k', 0x00])).unwrap_err();
        assert_eq!(err, FileError::UnknownType { kind: 8, at: 9 });
        assert_eq!(err.to_string(), "unknown type 0x08 at offset 9");
        let err = read_all(&file(&[0x07, 0x01, b'k', 0x00])).unwrap_err();
        assert_eq!(err, FileError::UnknownType { kind: 7, at: 9 });
        // a string cut short inside a whole file: malformed, not truncated
        let err = read_all(&file(&[0x00, 0x01, b'k', 0x3f, b'a'])).unwrap_err();
        assert!(
            matches!(err, FileError::BadValue { kind: 0, at: 9, .. }),
            "{err}"
        );

        // SELECTDB, RESIZEDB, FREQ, IDLE, seconds and ms expiries, no checksum (v4)
        let mut f = b"REDIS0004".to_vec();
        f.extend_from_slice(&[OP_SELECTDB, 2, OP_RESIZEDB, 1, 1]);
        f.push(OP_EXPIRETIME);
        f.extend_from_slice(&2_000_000_000u32.to_le_bytes());
        f.extend_from_slice(&[OP_FREQ, 5, OP_IDLE, 7]);
        f.extend_from_slice(&[0x00, 0x01, b'a', 0x01, b'x']);
        f.push(OP_EXPIRETIME_MS);
        f.extend_from_slice(&1_000u64.to_le_bytes());
        f.extend_from_slice(&[0x00, 0x01, b'b', 0xc0, 0x05, 0x00, 0x01, b'c', 0x00]);
        f.push(OP_EOF);
        let (summary, keys) = read_all(&f).unwrap();
        assert_eq!(summary.databases, vec![2]);
        assert!(!summary.checksummed);
        let got: Vec<_> = keys
            .iter()
            .map(|l| (l.db, l.key.clone(), l.value.clone(), l.expire_at))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    2,
                    b"a".to_vec(),
                    Value::from_bytes(b"x"),
                    Some(2_000_000_000_000)
                ),
                (2, b"b".to_vec(), Value::Int(5), Some(1_000)),
                (2, b"c".to_vec(), Value::from_bytes(b""), None),
            ]
        );
        // a refusal from the caller names the key's offset
        let err = read_file(&f, &Limits::default(), |_| Err("no db 2".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no db 2 (key at offset {})", 9 + 5 + 5 + 4)
        );
    }

    #[test]
    fn big_files_read_too() {
        // a stream of 5000 entries and a 20000-element list, written by Cairn's own
        // payload writers inside a file frame
        let mut f = b"REDIS0010".to_vec();
        f.extend_from_slice(&[OP_SELECTDB, 0]);
        let list = super::super::encode_list((0..20_000).map(|i| format!("element-{i}")));
        f.push(list[0]);
        string::write(&mut f, b"list");
        f.extend_from_slice(&list[1..list.len() - super::super::FOOTER_LEN]);
        f.push(OP_EOF);
        let crc = CRC64.checksum(&f);
        f.extend_from_slice(&crc.to_le_bytes());
        let (summary, keys) = read_all(&f).unwrap();
        assert_eq!(summary.keys, 1);
        let Object::List(l) = object(&keys[0]) else {
            panic!("a list")
        };
        assert_eq!(l.len(), 20_000);
        for cut in (9..f.len()).step_by(997) {
            assert_eq!(
                read_all(&f[..cut]).unwrap_err(),
                FileError::Truncated { at: cut }
            );
        }
    }
}
