//! Why a DUMP payload was refused. The two kinds are the two error lines RESTORE answers
//! in Redis, so a caller maps each to its text without judging the payload again.

/// Why a payload was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpError {
    /// The footer does not check out: too short, an RDB version this server does not read,
    /// or a checksum that does not match (Redis: "DUMP payload version or checksum are
    /// wrong"). Nothing of the body was read.
    VersionOrChecksum,
    /// The footer is fine but the body is not a value this server can load: an object type
    /// it does not parse, a length that lies, a malformed listpack (Redis: "Bad data
    /// format").
    BadFormat,
}

/// What every reader in this module returns.
pub type Result<T> = std::result::Result<T, DumpError>;
