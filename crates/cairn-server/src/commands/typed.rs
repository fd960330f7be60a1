//! What a key holds, checked against what a command expects of it, as Redis's
//! `checkType`: a string command on a hash, or a set command on a string, answers
//! WRONGTYPE and changes nothing. Every family reads a key's value through these.

use cairn_protocol::Reply;
use cairn_store::types::hash::Hash;
use cairn_store::types::list::List;
use cairn_store::types::set::Set;
use cairn_store::types::stream::Stream;
use cairn_store::types::zset::ZSet;
use cairn_store::{Entry, EntryMut, Object, ValueRef};

use crate::ctx::Ctx;
use crate::error::{CmdError, CmdResult};

/// Runs `f` on what `key` holds as `typed` reads it (WRONGTYPE otherwise), counting a
/// keyspace hit or miss; `missing` answers when there is no such key. The read commands
/// of every collection family go through here.
pub fn read<T: ?Sized>(
    ctx: &mut Ctx,
    key: &[u8],
    typed: fn(&Entry) -> Result<&T, CmdError>,
    missing: impl FnOnce(&mut Reply),
    f: impl FnOnce(&T, &mut Reply),
) -> CmdResult {
    let (mut shard, slot) = ctx.lock(key);
    match shard.db(ctx.db()).read(slot, key, ctx.now) {
        Some(e) => f(typed(e)?, ctx.out),
        None => missing(ctx.out),
    }
    Ok(())
}

/// The string `e` holds.
pub fn string(e: &Entry) -> Result<ValueRef<'_>, CmdError> {
    if e.is_string() {
        Ok(e.value())
    } else {
        Err(CmdError::wrong_type())
    }
}

/// The hash `e` holds.
pub fn hash(e: &Entry) -> Result<&Hash, CmdError> {
    e.object()
        .and_then(Object::as_hash)
        .ok_or_else(CmdError::wrong_type)
}

/// The hash a write guard holds, borrowed to change it (which marks the guard changed:
/// checked first, so a WRONGTYPE journals nothing).
pub fn hash_mut<'a>(e: &'a mut EntryMut<'_>) -> Result<&'a mut Hash, CmdError> {
    hash(e)?;
    Ok(e.object_mut()
        .and_then(Object::as_hash_mut)
        .expect("checked above"))
}

/// The set `e` holds.
pub fn set(e: &Entry) -> Result<&Set, CmdError> {
    e.object()
        .and_then(Object::as_set)
        .ok_or_else(CmdError::wrong_type)
}

/// The set a write guard holds, to change it (see [`hash_mut`]).
pub fn set_mut<'a>(e: &'a mut EntryMut<'_>) -> Result<&'a mut Set, CmdError> {
    set(e)?;
    Ok(e.object_mut()
        .and_then(Object::as_set_mut)
        .expect("checked above"))
}

/// The list `e` holds.
pub fn list(e: &Entry) -> Result<&List, CmdError> {
    e.object()
        .and_then(Object::as_list)
        .ok_or_else(CmdError::wrong_type)
}

/// The list a write guard holds, to change it (see [`hash_mut`]).
pub fn list_mut<'a>(e: &'a mut EntryMut<'_>) -> Result<&'a mut List, CmdError> {
    list(e)?;
    Ok(e.object_mut()
        .and_then(Object::as_list_mut)
        .expect("checked above"))
}

/// The sorted set `e` holds.
pub fn zset(e: &Entry) -> Result<&ZSet, CmdError> {
    e.object()
        .and_then(Object::as_zset)
        .ok_or_else(CmdError::wrong_type)
}

/// The sorted set a write guard holds, to change it (see [`hash_mut`]).
pub fn zset_mut<'a>(e: &'a mut EntryMut<'_>) -> Result<&'a mut ZSet, CmdError> {
    zset(e)?;
    Ok(e.object_mut()
        .and_then(Object::as_zset_mut)
        .expect("checked above"))
}

/// The stream `e` holds.
pub fn stream(e: &Entry) -> Result<&Stream, CmdError> {
    e.object()
        .and_then(Object::as_stream)
        .ok_or_else(CmdError::wrong_type)
}

/// The stream a write guard holds, to change it (see [`hash_mut`]).
pub fn stream_mut<'a>(e: &'a mut EntryMut<'_>) -> Result<&'a mut Stream, CmdError> {
    stream(e)?;
    Ok(e.object_mut()
        .and_then(Object::as_stream_mut)
        .expect("checked above"))
}
