//! Generic key commands: DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, COPY, MOVE, OBJECT,
//! DUMP / RESTORE, and friends.

use cairn_protocol::Args;
use cairn_store::db::LAZYFREE_BYTES;
use cairn_store::{Entry, ExpireChange, dump, glob, key_slot};

use crate::commands::args::{help_reply, int_arg, is};
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::notify::class::GENERIC;
use crate::spec::{KeySpec, Spec, acl, flags::*, key};

const OBJECT_SUBCOMMANDS: &[Command] = &[
    Spec::new("object|encoding", 3, "generic")
        .flags(READONLY)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(2, key::RO)])
        .tips(&["nondeterministic_output"])
        .doc("2.2.3", "Returns the internal encoding of a Redis object.")
        .complexity("O(1)")
        .run(object_encoding),
    Spec::new("object|freq", 3, "generic")
        .flags(READONLY)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(2, key::RO)])
        .tips(&["nondeterministic_output"])
        .doc(
            "4.0.0",
            "Returns the logarithmic access frequency counter of a Redis object.",
        )
        .complexity("O(1)")
        .run(object_freq),
    Spec::new("object|idletime", 3, "generic")
        .flags(READONLY)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(2, key::RO)])
        .tips(&["nondeterministic_output"])
        .doc(
            "2.2.3",
            "Returns the time since the last access to a Redis object.",
        )
        .complexity("O(1)")
        .run(object_idletime),
    Spec::new("object|refcount", 3, "generic")
        .flags(READONLY)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(2, key::RO)])
        .tips(&["nondeterministic_output"])
        .doc("2.2.3", "Returns the reference count of a value of a key.")
        .complexity("O(1)")
        .run(object_refcount),
    Spec::new("object|help", 2, "generic")
        .flags(LOADING | STALE)
        .acl(acl::KEYSPACE)
        .doc(
            "6.2.0",
            "Returns helpful text about the different subcommands.",
        )
        .complexity("O(1)")
        .run(object_help),
];

pub const COMMANDS: &[Command] = &[
    Spec::new("del", -2, "generic")
        .flags(WRITE)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::range(1, -1, 1, key::RM | key::DELETE)])
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .doc("1.0.0", "Deletes one or more keys.")
        .complexity("O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1).")
        .run(del),
    Spec::new("unlink", -2, "generic")
        .flags(WRITE | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::range(1, -1, 1, key::RM | key::DELETE)])
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .doc("4.0.0", "Asynchronously deletes one or more keys.")
        .complexity("O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of.")
        .run(unlink),
    Spec::new("exists", -2, "generic")
        .flags(READONLY | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::range(1, -1, 1, key::RO)])
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .doc("1.0.0", "Determines whether one or more keys exist.")
        .complexity("O(N) where N is the number of keys to check.")
        .run(exists),
    Spec::new("type", 2, "generic")
        .flags(READONLY | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RO)])
        .doc("1.0.0", "Determines the type of value stored at a key.")
        .complexity("O(1)")
        .run(type_),
    Spec::new("keys", 2, "generic")
        .flags(READONLY)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .tips(&["request_policy:all_shards", "nondeterministic_output_order"])
        .doc("1.0.0", "Returns all key names that match a pattern.")
        .complexity("O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length.")
        .run(keys),
    Spec::new("scan", -2, "generic")
        .flags(READONLY)
        .acl(acl::KEYSPACE)
        .tips(&["nondeterministic_output", "request_policy:special"])
        .doc("2.8.0", "Iterates over the key names in the database.")
        .complexity("O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection.")
        .run(scan),
    Spec::new("randomkey", 1, "generic")
        .flags(READONLY)
        .acl(acl::KEYSPACE)
        .tips(&["request_policy:all_shards", "response_policy:special", "nondeterministic_output"])
        .doc("1.0.0", "Returns a random key name from the database.")
        .complexity("O(1)")
        .run(randomkey),
    Spec::new("rename", 3, "generic")
        .flags(WRITE)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE), KeySpec::one(2, key::OW | key::UPDATE)])
        .doc("1.0.0", "Renames a key and overwrites the destination.")
        .complexity("O(1)")
        .run(rename),
    Spec::new("renamenx", 3, "generic")
        .flags(WRITE | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::DELETE), KeySpec::one(2, key::OW | key::INSERT)])
        .doc("1.0.0", "Renames a key only when the target key name doesn't exist.")
        .complexity("O(1)")
        .run(renamenx),
    Spec::new("copy", -3, "generic")
        .flags(WRITE | DENYOOM)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS), KeySpec::one(2, key::OW | key::UPDATE)])
        .doc("6.2.0", "Copies the value of a key to a new key.")
        .complexity("O(N) worst case for collections, where N is the number of nested items. O(1) for string values.")
        .run(copy),
    Spec::new("move", 3, "generic")
        .flags(WRITE | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RW | key::ACCESS | key::UPDATE)])
        .doc("1.0.0", "Moves a key to another database.")
        .complexity("O(1)")
        .run(move_),
    Spec::new("touch", -2, "generic")
        .flags(READONLY | FAST)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::range(1, -1, 1, key::RO)])
        .tips(&["request_policy:multi_shard", "response_policy:agg_sum"])
        .doc("3.2.1", "Returns the number of existing keys out of those specified after updating the time they were last accessed.")
        .complexity("O(N) where N is the number of keys that will be touched.")
        .run(touch),
    Spec::new("object", -2, "generic")
        .doc("2.2.3", "A container for object introspection commands.")
        .complexity("Depends on subcommand.")
        .container(OBJECT_SUBCOMMANDS),
    Spec::new("dump", 2, "generic")
        .flags(READONLY)
        .acl(acl::KEYSPACE)
        .keys(&[KeySpec::one(1, key::RO | key::ACCESS)])
        .tips(&["nondeterministic_output"])
        .doc("2.6.0", "Returns a serialized representation of the value stored at a key.")
        .complexity("O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).")
        .run(dump_),
    Spec::new("restore", -4, "generic")
        .flags(WRITE | DENYOOM)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .keys(&[KeySpec::one(1, key::OW | key::UPDATE)])
        .doc("2.6.0", "Creates a key from the serialized representation of a value.")
        .complexity("O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).")
        .run(restore),
];

fn delete_keys(ctx: &mut Ctx, args: Args, lazy: bool) -> CmdResult {
    let keys = args.tail(1);
    let mut locked = ctx.server.keyspace.lock_keys(keys.iter());
    let mut removed = 0;
    for key in keys.iter() {
        let slot = key_slot(key);
        if let Some(e) = locked.db(slot, ctx.session.db).remove(slot, key, ctx.now) {
            removed += 1;
            ctx.notify(GENERIC, "del", key);
            if lazy && e.value_heap_size() >= LAZYFREE_BYTES {
                ctx.server.lazyfree.free(e);
            }
        }
    }
    ctx.out.int(removed);
    Ok(())
}

/// ```text
/// DEL key [key ...]
/// ```
fn del(ctx: &mut Ctx, args: Args) -> CmdResult {
    let lazy = ctx.server.with_config(|c| c.lazyfree_lazy_user_del);
    delete_keys(ctx, args, lazy)
}

/// ```text
/// UNLINK key [key ...]
/// ```
/// Removes the keys at once; their memory is freed on the lazyfree thread.
fn unlink(ctx: &mut Ctx, args: Args) -> CmdResult {
    delete_keys(ctx, args, true)
}

/// Counts the named keys that exist, locking all their shards first; `touch` records the
/// access (TOUCH) or counts a keyspace hit or miss (EXISTS). A key named twice counts twice,
/// as in Redis.
fn count_existing(ctx: &mut Ctx, args: Args, touch: bool) -> CmdResult {
    let keys = args.tail(1);
    let mut locked = ctx.server.keyspace.lock_keys(keys.iter());
    let mut n = 0;
    for key in keys.iter() {
        let slot = key_slot(key);
        let db = locked.db(slot, ctx.session.db);
        let found = if touch {
            db.write(slot, key, ctx.now).is_some()
        } else {
            db.read(slot, key, ctx.now).is_some()
        };
        n += found as i64;
    }
    ctx.out.int(n);
    Ok(())
}

/// ```text
/// EXISTS key [key ...]
/// ```
fn exists(ctx: &mut Ctx, args: Args) -> CmdResult {
    count_existing(ctx, args, false)
}

fn type_(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    let t = shard
        .db(ctx.db())
        .peek(slot, key, ctx.now)
        .map_or("none", |e| e.value().type_name());
    ctx.out.simple(t);
    Ok(())
}

/// ```text
/// KEYS pattern
/// ```
fn keys(ctx: &mut Ctx, args: Args) -> CmdResult {
    let pattern = args.get(1);
    let all = glob::matches_all(pattern);
    let mut found: Vec<Vec<u8>> = Vec::new();
    for shard in 0..ctx.server.keyspace.shard_count() {
        let guard = ctx.server.keyspace.lock_shard(shard);
        guard.db_ref(ctx.session.db).for_each(ctx.now, |e| {
            if all || glob::matches(pattern, e.key(), false) {
                found.push(e.key().to_vec());
            }
        });
    }
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// ```text
/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
/// ```
/// Every key present for the whole iteration is returned exactly once: the cursor walks
/// hash slots, and a slot is visited whole.
fn scan(ctx: &mut Ctx, args: Args) -> CmdResult {
    let cursor = std::str::from_utf8(args.get(1))
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CmdError::new("ERR invalid cursor"))?;
    let (mut pattern, mut count, mut type_filter) = (None, 10usize, None);
    let mut i = 2;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        let a = args.get(i);
        if is(a, "match") && has_value {
            pattern = Some(args.get(i + 1));
        } else if is(a, "count") && has_value {
            let n = int_arg(args.get(i + 1))?;
            if n < 1 {
                return Err(CmdError::syntax());
            }
            count = n as usize;
        } else if is(a, "type") && has_value {
            type_filter = Some(String::from_utf8_lossy(args.get(i + 1)).to_ascii_lowercase());
        } else {
            return Err(CmdError::syntax());
        }
        i += 2;
    }
    let pattern = pattern.filter(|p| !glob::matches_all(p));
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = if cursor >= cairn_store::SLOTS as u64 {
        0
    } else {
        ctx.server
            .keyspace
            .scan(ctx.session.db, cursor, count, ctx.now, |e: &Entry| {
                if pattern.is_some_and(|p| !glob::matches(p, e.key(), false)) {
                    return;
                }
                if type_filter
                    .as_deref()
                    .is_some_and(|t| t != e.value().type_name())
                {
                    return;
                }
                found.push(e.key().to_vec());
            })
    };
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx, _args: Args) -> CmdResult {
    match ctx.server.keyspace.random_key(ctx.session.db, ctx.now) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Moves `src` to `dst` (keeping its TTL). With `nx`, refuses when `dst` exists.
fn rename_generic(ctx: &mut Ctx, args: Args, nx: bool) -> CmdResult {
    let (src, dst) = (args.get(1), args.get(2));
    let (ss, ds) = (key_slot(src), key_slot(dst));
    let mut locked = ctx.server.keyspace.lock_slots([ss, ds]);
    let db = ctx.session.db;
    if !locked.db(ss, db).contains(ss, src, ctx.now) {
        return Err(CmdError::no_such_key());
    }
    if src == dst {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if nx && locked.db(ds, db).contains(ds, dst, ctx.now) {
        ctx.out.int(0);
        return Ok(());
    }
    let entry = locked
        .db(ss, db)
        .remove(ss, src, ctx.now)
        .expect("checked above");
    let entry = rekey(entry, dst);
    if let Some(old) = locked.db(ds, db).put_entry(ds, entry, ctx.now)
        && old.value_heap_size() >= LAZYFREE_BYTES
    {
        ctx.server
            .lazyfree
            .free_if(&ctx.server.lazy.server_del, old);
    }
    ctx.notify(GENERIC, "rename_from", src);
    ctx.notify(GENERIC, "rename_to", dst);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// The same value and metadata under another name.
fn rekey(entry: Entry, key: &[u8]) -> Entry {
    entry.renamed(key)
}

fn rename(ctx: &mut Ctx, args: Args) -> CmdResult {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut Ctx, args: Args) -> CmdResult {
    rename_generic(ctx, args, true)
}

/// ```text
/// COPY source destination [DB destination-db] [REPLACE]
/// ```
fn copy(ctx: &mut Ctx, args: Args) -> CmdResult {
    let (src, dst) = (args.get(1), args.get(2));
    let mut dst_db = ctx.session.db;
    let mut replace = false;
    let mut i = 3;
    while i < args.len() {
        if is(args.get(i), "replace") {
            replace = true;
            i += 1;
        } else if is(args.get(i), "db") && i + 1 < args.len() {
            let n = int_arg(args.get(i + 1))?;
            if n < 0 || n as usize >= ctx.server.with_config(|c| c.databases) {
                return Err(CmdError::db_out_of_range());
            }
            dst_db = n as usize;
            i += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    if src == dst && dst_db == ctx.session.db {
        return Err(CmdError::new(
            "ERR source and destination objects are the same",
        ));
    }
    let (ss, ds) = (key_slot(src), key_slot(dst));
    let mut locked = ctx.server.keyspace.lock_slots([ss, ds]);
    let Some(entry) = locked
        .db(ss, ctx.session.db)
        .peek(ss, src, ctx.now)
        .cloned()
    else {
        ctx.out.int(0);
        return Ok(());
    };
    if !replace && locked.db(ds, dst_db).contains(ds, dst, ctx.now) {
        ctx.out.int(0);
        return Ok(());
    }
    locked
        .db(ds, dst_db)
        .put_entry(ds, rekey(entry, dst), ctx.now);
    ctx.server.notifier.notify(GENERIC, "copy_to", dst, dst_db);
    ctx.out.int(1);
    Ok(())
}

/// ```text
/// MOVE key db
/// ```
fn move_(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let to = int_arg(args.get(2))?;
    if to < 0 || to as usize >= ctx.server.with_config(|c| c.databases) {
        return Err(CmdError::db_out_of_range());
    }
    let to = to as usize;
    if to == ctx.session.db {
        return Err(CmdError::new(
            "ERR source and destination objects are the same",
        ));
    }
    let (mut shard, slot) = ctx.lock(key);
    if !shard.db(ctx.session.db).contains(slot, key, ctx.now)
        || shard.db(to).contains(slot, key, ctx.now)
    {
        ctx.out.int(0);
        return Ok(());
    }
    let entry = shard
        .db(ctx.session.db)
        .remove(slot, key, ctx.now)
        .expect("checked above");
    shard.db(to).put_entry(slot, entry, ctx.now);
    ctx.notify(GENERIC, "move_from", key);
    ctx.server.notifier.notify(GENERIC, "move_to", key, to);
    ctx.out.int(1);
    Ok(())
}

/// ```text
/// TOUCH key [key ...]
/// ```
fn touch(ctx: &mut Ctx, args: Args) -> CmdResult {
    count_existing(ctx, args, true)
}

/// Runs `f` on the live entry named by the OBJECT subcommand's key, or replies nil.
fn with_object(
    ctx: &mut Ctx,
    args: Args,
    f: impl FnOnce(&mut Ctx, &Entry) -> CmdResult,
) -> CmdResult {
    let key = args.get(2);
    let (mut shard, slot) = ctx.lock(key);
    match shard.db(ctx.db()).peek(slot, key, ctx.now) {
        Some(e) => {
            let e = e.clone();
            drop(shard);
            f(ctx, &e)
        }
        None => {
            ctx.out.null();
            Ok(())
        }
    }
}

/// Redis's LFU policies keep an access counter and no idle time. Cairn's entries carry
/// both whatever the policy, but answers as Redis does under Redis's policies; under
/// allkeys-tinylfu both OBJECT FREQ and IDLETIME answer (so `redis-cli --hotkeys` works on
/// a default node).
fn lfu_policy(ctx: &Ctx) -> bool {
    ctx.server.policy().is_lfu()
}

fn tracks_idle_time(ctx: &Ctx) -> bool {
    !matches!(
        ctx.server.policy(),
        cairn_store::Policy::AllKeysLfu | cairn_store::Policy::VolatileLfu
    )
}

fn object_encoding(ctx: &mut Ctx, args: Args) -> CmdResult {
    with_object(ctx, args, |ctx, e| {
        ctx.out.bulk(e.value().encoding().as_bytes());
        Ok(())
    })
}

/// As in Redis, the key is looked up first (nil when missing), then the policy checked.
fn object_freq(ctx: &mut Ctx, args: Args) -> CmdResult {
    with_object(ctx, args, |ctx, e| {
        if !lfu_policy(ctx) {
            return Err(CmdError::new(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ));
        }
        let decay = ctx.server.with_config(|c| c.lfu_decay_time);
        ctx.out.int(e.freq_decayed(ctx.now.s, decay) as i64);
        Ok(())
    })
}

fn object_idletime(ctx: &mut Ctx, args: Args) -> CmdResult {
    with_object(ctx, args, |ctx, e| {
        if !tracks_idle_time(ctx) {
            return Err(CmdError::new(
                "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ));
        }
        ctx.out.int(e.idle_seconds(ctx.now.s) as i64);
        Ok(())
    })
}

/// Redis shares the integers 0..10000 between keys and reports them with the "shared"
/// refcount; every other value has exactly one owner.
fn object_refcount(ctx: &mut Ctx, args: Args) -> CmdResult {
    with_object(ctx, args, |ctx, e| {
        let shared = matches!(e.value(), cairn_store::ValueRef::Int(i) if (0..10000).contains(&i));
        ctx.out.int(if shared { i32::MAX as i64 } else { 1 });
        Ok(())
    })
}

fn object_help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified <key>.",
        ],
    );
    Ok(())
}

fn dump_(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut shard, slot) = ctx.lock(key);
    match shard.db(ctx.db()).read(slot, key, ctx.now) {
        Some(e) => ctx.out.bulk(&dump::serialize(e.value())),
        None => ctx.out.null(),
    }
    Ok(())
}

/// ```text
/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
/// ```
pub(crate) fn restore(ctx: &mut Ctx, args: Args) -> CmdResult {
    let key = args.get(1);
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut i = 4;
    while i < args.len() {
        let a = args.get(i);
        let has_value = i + 1 < args.len();
        if is(a, "replace") {
            replace = true;
        } else if is(a, "absttl") {
            absttl = true;
        } else if is(a, "idletime") && has_value && freq.is_none() {
            let v = int_arg(args.get(i + 1))?;
            if v < 0 {
                return Err(CmdError::new("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            i += 1;
        } else if is(a, "freq") && has_value && idle.is_none() {
            let v = int_arg(args.get(i + 1))?;
            if !(0..=255).contains(&v) {
                return Err(CmdError::new(
                    "ERR Invalid FREQ value, must be >= 0 and <= 255",
                ));
            }
            freq = Some(v);
            i += 1;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    // Redis reports, in this order: the options, BUSYKEY, the TTL, the payload. The payload
    // is checked before the lock is taken, its verdict given in that order.
    let ttl = int_arg(args.get(2));
    let value =
        dump::deserialize_with(args.get(3), &ctx.server.object_limits()).map_err(|e| match e {
            dump::DumpError::VersionOrChecksum => {
                CmdError::new("ERR DUMP payload version or checksum are wrong")
            }
            dump::DumpError::BadFormat => CmdError::new("ERR Bad data format"),
        });
    let (mut shard, slot) = ctx.lock(key);
    let db = shard.db(ctx.db());
    if !replace && db.contains(slot, key, ctx.now) {
        return Err(CmdError::new("BUSYKEY Target key name already exists."));
    }
    let ttl = ttl?;
    if ttl < 0 {
        return Err(CmdError::new("ERR Invalid TTL value, must be >= 0"));
    }
    let value = value?;
    let at = match ttl {
        0 => None,
        t if absttl => Some(t as u64),
        t => Some(ctx.now.ms.saturating_add(t as u64)),
    };
    if at.is_some_and(|t| t <= ctx.now.ms) {
        // Already expired: like Redis, the key is not created (and a replaced one is gone).
        db.remove(slot, key, ctx.now);
        ctx.out.ok();
        return Ok(());
    }
    let expire = at.map_or(ExpireChange::Clear, ExpireChange::At);
    db.set(slot, key, value, expire, ctx.now);
    if (idle.is_some() || freq.is_some())
        && let Some(mut e) = db.write(slot, key, ctx.now)
    {
        let access = ctx.now.s.wrapping_sub(idle.unwrap_or(0) as u32);
        e.restore_access(access, freq.map(|f| f as u8));
    }
    ctx.notify(GENERIC, "restore", key);
    ctx.out.ok();
    Ok(())
}
