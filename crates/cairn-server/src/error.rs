//! What a command answers when it fails: one error line, starting with its code (`ERR`,
//! `WRONGTYPE`, `MOVED`, ...), in Redis's words.

use std::borrow::Cow;

/// An error reply: the whole line after `-`, starting with its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>);

pub type CmdResult = Result<(), CmdError>;

impl CmdError {
    pub fn new(msg: impl Into<Cow<'static, str>>) -> CmdError {
        CmdError(msg.into())
    }
    /// The code the error starts with (INFO errorstats counts by it).
    pub fn code(&self) -> &str {
        self.0.split(' ').next().unwrap_or("ERR")
    }
    pub fn syntax() -> CmdError {
        CmdError::new("ERR syntax error")
    }
    pub fn not_integer() -> CmdError {
        CmdError::new("ERR value is not an integer or out of range")
    }
    pub fn not_float() -> CmdError {
        CmdError::new("ERR value is not a valid float")
    }
    pub fn wrong_type() -> CmdError {
        CmdError::new("WRONGTYPE Operation against a key holding the wrong kind of value")
    }
    pub fn no_such_key() -> CmdError {
        CmdError::new("ERR no such key")
    }
    pub fn db_out_of_range() -> CmdError {
        CmdError::new("ERR DB index is out of range")
    }
    pub fn too_big() -> CmdError {
        CmdError::new("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    }
    pub fn arity(name: &str) -> CmdError {
        CmdError::new(format!(
            "ERR wrong number of arguments for '{name}' command"
        ))
    }
    pub fn unknown_subcommand(sub: &[u8], container: &str) -> CmdError {
        CmdError::new(format!(
            "ERR unknown subcommand '{}'. Try {} HELP.",
            truncate_for_error(sub),
            container.to_ascii_uppercase()
        ))
    }
    pub fn invalid_expire(cmd: &str) -> CmdError {
        CmdError::new(format!("ERR invalid expire time in '{cmd}' command"))
    }
}

/// Shows at most 128 bytes of client input inside an error, as Redis does.
pub fn truncate_for_error(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(128)]);
    s.replace(['\r', '\n'], " ")
}
