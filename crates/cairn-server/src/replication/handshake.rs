//! What a connection tells this node before it becomes a replica's: REPLCONF's
//! settings and the PSYNC (or SYNC) it ends with. Kept in the connection's session until
//! the connection is handed to `super::primary`.

/// What a replica asked for, from PSYNC or SYNC on its connection.
#[derive(Debug, Clone)]
pub struct Request {
    pub replid: Vec<u8>,
    pub offset: i64,
    /// Old-style SYNC: the snapshot without a +FULLRESYNC line.
    pub plain_sync: bool,
    /// REPLCONF rdb-only 1: the snapshot, then close (a backup, `redis-cli --rdb`).
    pub snapshot_only: bool,
    /// REPLCONF listening-port / ip-address, if given.
    pub port: u16,
    pub ip: Option<String>,
}

/// What REPLCONF told this connection before PSYNC.
#[derive(Debug, Clone, Default)]
pub struct Replconf {
    pub port: u16,
    pub ip: Option<String>,
    pub snapshot_only: bool,
    /// The primary's stream asked for an acknowledgement (REPLCONF GETACK), which the
    /// replica link sends once the batch is applied.
    pub getack: bool,
}
