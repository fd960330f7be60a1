//! Every command family, in the order COMMAND lists them. A new family is one line here.

use crate::commands::{
    bits, client, cluster, command, config, connection, expire, geo, hash_expiry, hashes, hotkeys,
    hyperloglog, info, keys, lease, list_blocking, lists, memcached, memory, multi, persistence,
    pubsub, replication, server, sets, strings, zset_algebra, zset_blocking, zset_ranges, zsets,
};
use crate::ctx::Command;

pub static ALL: &[&[Command]] = &[
    connection::COMMANDS,
    client::COMMANDS,
    server::COMMANDS,
    info::COMMANDS,
    config::COMMANDS,
    command::COMMANDS,
    strings::COMMANDS,
    bits::COMMANDS,
    hashes::COMMANDS,
    hash_expiry::COMMANDS,
    sets::COMMANDS,
    lists::COMMANDS,
    list_blocking::COMMANDS,
    zsets::COMMANDS,
    zset_ranges::COMMANDS,
    zset_algebra::COMMANDS,
    zset_blocking::COMMANDS,
    geo::COMMANDS,
    hyperloglog::COMMANDS,
    keys::COMMANDS,
    expire::COMMANDS,
    memory::COMMANDS,
    hotkeys::COMMANDS,
    pubsub::COMMANDS,
    multi::COMMANDS,
    lease::COMMANDS,
    memcached::COMMANDS,
    persistence::COMMANDS,
    replication::COMMANDS,
    cluster::COMMANDS,
];
