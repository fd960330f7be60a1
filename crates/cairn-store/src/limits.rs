//! When small collections become tables: the thresholds the server's settings
//! (`hash-max-listpack-entries` ...) hand the collection types.

/// The size thresholds at which compact encodings convert to tables: settings with
/// Redis's names and defaults (`hash-max-listpack-entries` ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub hash_entries: usize,
    pub hash_value: usize,
    pub set_intset_entries: usize,
    pub set_entries: usize,
    pub set_value: usize,
    /// `list-max-listpack-size`: a list node's bound, in bytes when negative (-1 = 4 KB
    /// ... -5 = 64 KB), in entries when positive.
    pub list_max_listpack_size: i64,
    /// `list-compress-depth`: list nodes kept uncompressed at each end (0: none compressed).
    pub list_compress_depth: usize,
    /// `zset-max-listpack-entries` and `zset-max-listpack-value`.
    pub zset_entries: usize,
    pub zset_value: usize,
    /// `stream-node-max-bytes` and `stream-node-max-entries`.
    pub stream_node: crate::types::stream::NodeLimits,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            hash_entries: 128,
            hash_value: 64,
            set_intset_entries: 512,
            set_entries: 128,
            set_value: 64,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            zset_entries: 128,
            zset_value: 64,
            stream_node: crate::types::stream::NodeLimits::default(),
        }
    }
}
