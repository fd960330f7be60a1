//! What a command *is*, as data: its name, arity, flags, ACL categories, where its keys
//! are, the routing tips cluster clients read, and its documentation. Nothing here knows
//! how a command runs (that is `crate::ctx::Command`, which pairs a [`Spec`] with its
//! handler); this module imports nothing from the crate, so everything that judges or
//! describes commands (dispatch, COMMAND, cluster routing, ACL, blocking) can depend on it
//! without depending on anything else.
//!
//! Key positions follow Redis 7's key specifications exactly: a *begin search* (an index,
//! or a keyword to look for) and a *find keys* rule (a range, or a count argument
//! followed by that many keys), each with flags that say how the key is used. COMMAND
//! INFO, COMMAND GETKEYS / GETKEYSANDFLAGS, hash-slot routing and multi-key locking all
//! read them through [`Spec::keys`].

/// Command flags, as COMMAND INFO names them (and a few of Cairn's own, never shown).
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    pub const NO_AUTH: u32 = 1 << 10;
    /// May write to the keyspace in some forms (Redis hides it from COMMAND INFO).
    pub const MAY_REPLICATE: u32 = 1 << 11;
    pub const ALLOW_BUSY: u32 = 1 << 12;
    /// May be served from a slot being imported without ASKING first (RESTORE-ASKING).
    pub const ASKING: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 15;
    pub const SKIP_MONITOR: u32 = 1 << 16;
    pub const SKIP_SLOWLOG: u32 = 1 << 17;
    pub const NO_ASYNC_LOADING: u32 = 1 << 18;

    // Cairn's own, for decisions Redis makes by comparing command procedures.
    /// Still runs while clients are paused (CLIENT UNPAUSE must).
    pub const PAUSE_EXEMPT: u32 = 1 << 24;
    /// Runs at once inside MULTI instead of being queued (MULTI, EXEC, DISCARD, WATCH,
    /// QUIT, RESET).
    pub const TX_CONTROL: u32 = 1 << 25;
    /// Allowed in the RESP2 subscribed context (SUBSCRIBE and friends, PING, QUIT, RESET).
    pub const SUBSCRIBED_OK: u32 = 1 << 26;
    /// Runs the queued transaction (EXEC): dispatch judges it by what it will run.
    pub const RUNS_QUEUE: u32 = 1 << 27;
    /// Moves keys between nodes (MIGRATE): served by this node while its slot is open
    /// here (migrating or importing), as Redis Cluster serves it.
    pub const MOVES_KEYS: u32 = 1 << 28;

    /// The flags COMMAND INFO shows, in Redis's order (`movablekeys` is added from the
    /// key specs).
    pub const SHOWN: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories, in the order ACL CAT and COMMAND INFO list them.
pub mod acl {
    pub const KEYSPACE: u64 = 1 << 0;
    pub const READ: u64 = 1 << 1;
    pub const WRITE: u64 = 1 << 2;
    pub const SET: u64 = 1 << 3;
    pub const SORTEDSET: u64 = 1 << 4;
    pub const LIST: u64 = 1 << 5;
    pub const HASH: u64 = 1 << 6;
    pub const STRING: u64 = 1 << 7;
    pub const BITMAP: u64 = 1 << 8;
    pub const HYPERLOGLOG: u64 = 1 << 9;
    pub const GEO: u64 = 1 << 10;
    pub const STREAM: u64 = 1 << 11;
    pub const PUBSUB: u64 = 1 << 12;
    pub const ADMIN: u64 = 1 << 13;
    pub const FAST: u64 = 1 << 14;
    pub const SLOW: u64 = 1 << 15;
    pub const BLOCKING: u64 = 1 << 16;
    pub const DANGEROUS: u64 = 1 << 17;
    pub const CONNECTION: u64 = 1 << 18;
    pub const TRANSACTION: u64 = 1 << 19;
    pub const SCRIPTING: u64 = 1 << 20;

    pub const NAMES: &[(u64, &str)] = &[
        (KEYSPACE, "keyspace"),
        (READ, "read"),
        (WRITE, "write"),
        (SET, "set"),
        (SORTEDSET, "sortedset"),
        (LIST, "list"),
        (HASH, "hash"),
        (STRING, "string"),
        (BITMAP, "bitmap"),
        (HYPERLOGLOG, "hyperloglog"),
        (GEO, "geo"),
        (STREAM, "stream"),
        (PUBSUB, "pubsub"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (SLOW, "slow"),
        (BLOCKING, "blocking"),
        (DANGEROUS, "dangerous"),
        (CONNECTION, "connection"),
        (TRANSACTION, "transaction"),
        (SCRIPTING, "scripting"),
    ];

    /// A category by its name (without the `@`), in any case.
    pub fn by_name(name: &[u8]) -> Option<u64> {
        NAMES
            .iter()
            .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|(c, _)| *c)
    }
}

/// How a command uses one of its keys (Redis 7's key-spec flags).
pub mod key {
    /// Read only.
    pub const RO: u32 = 1 << 0;
    /// Read and write.
    pub const RW: u32 = 1 << 1;
    /// Overwritten whatever it held.
    pub const OW: u32 = 1 << 2;
    /// Removed.
    pub const RM: u32 = 1 << 3;
    /// The value is returned, copied or otherwise read.
    pub const ACCESS: u32 = 1 << 4;
    /// The value is changed in place.
    pub const UPDATE: u32 = 1 << 5;
    /// Something is added.
    pub const INSERT: u32 = 1 << 6;
    /// Something is deleted.
    pub const DELETE: u32 = 1 << 7;
    /// Not a key, though routed like one (a shard channel).
    pub const NOT_KEY: u32 = 1 << 8;
    /// Some keys may not be found by this spec.
    pub const INCOMPLETE: u32 = 1 << 9;
    /// The flags depend on other arguments.
    pub const VARIABLE_FLAGS: u32 = 1 << 10;

    pub const NAMES: &[(u32, &str)] = &[
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];
}

/// Where the search for keys begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    /// At this argument (0 is the command name).
    Index(u32),
    /// After this keyword, searched for from argument `start` (negative: from the end,
    /// backwards).
    Keyword { word: &'static str, start: i32 },
}

/// Which arguments from the beginning are keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Find {
    /// Up to `last` arguments after the beginning (negative: counted from the end of the
    /// arguments), every `step`th; with `limit` > 0 and `last` -1, only 1/`limit` of
    /// the rest (XREAD's keys before their ids).
    Range { last: i32, step: u32, limit: u32 },
    /// A count at `count_at` (relative to the beginning), then that many keys from
    /// `first` (relative too), every `step`th: ZUNIONSTORE's, EVAL's, LMPOP's numkeys.
    KeyNum {
        count_at: u32,
        first: u32,
        step: u32,
    },
}

/// One key specification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    pub flags: u32,
    pub begin: Begin,
    pub find: Find,
    pub notes: &'static str,
}

impl KeySpec {
    /// One key at argument `at`.
    pub const fn one(at: u32, flags: u32) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Index(at),
            find: Find::Range {
                last: 0,
                step: 1,
                limit: 0,
            },
            notes: "",
        }
    }

    /// Every argument from `at` on, every `step`th, up to `last` (relative, or from the
    /// end when negative).
    pub const fn range(at: u32, last: i32, step: u32, flags: u32) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Index(at),
            find: Find::Range {
                last,
                step,
                limit: 0,
            },
            notes: "",
        }
    }

    /// A count at argument `at`, then that many keys.
    pub const fn counted(at: u32, flags: u32) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Index(at),
            find: Find::KeyNum {
                count_at: 0,
                first: 1,
                step: 1,
            },
            notes: "",
        }
    }

    /// The keys after `word`: `find` counts from the argument that follows it.
    pub const fn after(word: &'static str, start: i32, find: Find, flags: u32) -> KeySpec {
        KeySpec {
            flags,
            begin: Begin::Keyword { word, start },
            find,
            notes: "",
        }
    }

    pub const fn notes(mut self, notes: &'static str) -> KeySpec {
        self.notes = notes;
        self
    }

    /// The positions this spec names in a command of `argc` arguments, `arg(i)` giving
    /// argument `i`; `Err` when the arguments contradict the spec (a count that is not a
    /// number, keys past the end). Redis's `getKeysUsingKeySpecs`, for one spec. `Ok(false)`:
    /// the spec's keyword is not there, so it names nothing.
    pub fn positions<'a>(
        &self,
        argc: usize,
        arg: impl Fn(usize) -> &'a [u8],
        out: &mut Vec<usize>,
    ) -> Result<bool, BadKeyArgs> {
        let argc = argc as i64;
        let mut first = match self.begin {
            Begin::Index(i) => i as i64,
            Begin::Keyword { word, start } => {
                let from = if start > 0 {
                    start as i64
                } else {
                    argc + start as i64
                };
                // As Redis searches: up to the argument before the last, or back down
                // to the second.
                let is_word = |i: i64| arg(i as usize).eq_ignore_ascii_case(word.as_bytes());
                let found = if start > 0 {
                    (from.max(1)..argc - 1).find(|&i| is_word(i))
                } else {
                    (2..=from.min(argc - 1)).rev().find(|&i| is_word(i))
                };
                match found {
                    Some(i) => i + 1,
                    // No keyword, no keys from this spec.
                    None => return Ok(false),
                }
            }
        };
        let (last, step) = match self.find {
            Find::Range { last, step, limit } => {
                let l = if last >= 0 {
                    first + last as i64
                } else if limit == 0 {
                    argc + last as i64
                } else {
                    first + ((argc - first) / limit as i64 + last as i64)
                };
                (l, step.max(1) as i64)
            }
            Find::KeyNum {
                count_at,
                first: first_key,
                step,
            } => {
                let at = first + count_at as i64;
                if at >= argc {
                    return Err(BadKeyArgs);
                }
                let n = parse_count(arg(at as usize)).ok_or(BadKeyArgs)?;
                first += first_key as i64;
                if n == 0 {
                    return Ok(true);
                }
                // A count larger than the arguments names keys that are not there; the
                // bound also keeps a stranger's 19-digit count from overflowing.
                if n > argc {
                    return Err(BadKeyArgs);
                }
                (first + n - 1, step.max(1) as i64)
            }
        };
        if last >= argc || last < first || first >= argc {
            return Err(BadKeyArgs);
        }
        let mut i = first;
        while i <= last {
            out.push(i as usize);
            i += step;
        }
        Ok(true)
    }
}

/// The arguments contradict a key spec: a count that is not a number, keys past the
/// end (COMMAND GETKEYS: "Invalid arguments specified for command").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadKeyArgs;

/// A non-negative count argument (Redis's `string2ll`, then `>= 0`).
fn parse_count(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if b.len() > 1 && b[0] == b'0' {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// A command's identity in the command table: the index of its spec. Handlers, stats,
/// ACL rules and dispatch name commands by it, never by comparing name strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u16);

impl CommandId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Finds the keys of a command whose key specs cannot (an INCOMPLETE spec: MIGRATE's
/// KEYS form), as Redis's `getkeys_proc`: `arg(i)` gives argument `i` of `argc`.
pub type GetKeys =
    for<'a> fn(argc: usize, arg: &dyn Fn(usize) -> &'a [u8], out: &mut Vec<(usize, u32)>);

/// Everything known about one command (or subcommand) short of how it runs.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Lower case; subcommands as `client|list`.
    pub name: &'static str,
    /// Redis arity: N means exactly N arguments (name included), -N at least N.
    pub arity: i32,
    pub flags: u32,
    /// The ACL categories Redis lists for the command explicitly (its group's category,
    /// `@keyspace`, `@dangerous`, ...); those its flags imply are added by
    /// [`Spec::categories`].
    pub acl: u64,
    pub keys: &'static [KeySpec],
    /// Routing and output hints for clients (COMMAND INFO's tips):
    /// `request_policy:all_shards`, `response_policy:agg_sum`, `nondeterministic_output`.
    pub tips: &'static [&'static str],
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    pub complexity: &'static str,
    /// The command that replaces a deprecated one (COMMAND DOCS), and since when.
    pub deprecated: Option<(&'static str, &'static str)>,
    /// Where the keys are when a key spec is INCOMPLETE (see [`GetKeys`]).
    pub getkeys: Option<GetKeys>,
}

impl Spec {
    /// A command of `group` (COMMAND DOCS's group: "string", "generic", "server", ...).
    pub const fn new(name: &'static str, arity: i32, group: &'static str) -> Spec {
        Spec {
            name,
            arity,
            flags: 0,
            acl: 0,
            keys: &[],
            tips: &[],
            group,
            since: "",
            summary: "",
            complexity: "",
            deprecated: None,
            getkeys: None,
        }
    }

    /// Keys found by `f` whenever a key spec is INCOMPLETE.
    pub const fn getkeys(mut self, f: GetKeys) -> Spec {
        self.getkeys = Some(f);
        self
    }

    pub const fn flags(mut self, flags: u32) -> Spec {
        self.flags = flags;
        self
    }

    pub const fn acl(mut self, categories: u64) -> Spec {
        self.acl = categories;
        self
    }

    pub const fn keys(mut self, keys: &'static [KeySpec]) -> Spec {
        self.keys = keys;
        self
    }

    pub const fn tips(mut self, tips: &'static [&'static str]) -> Spec {
        self.tips = tips;
        self
    }

    /// COMMAND DOCS: the version it appeared in and what it does.
    pub const fn doc(mut self, since: &'static str, summary: &'static str) -> Spec {
        self.since = since;
        self.summary = summary;
        self
    }

    pub const fn complexity(mut self, complexity: &'static str) -> Spec {
        self.complexity = complexity;
        self
    }

    /// Deprecated since `since`, replaced by `by`.
    pub const fn deprecated(mut self, since: &'static str, by: &'static str) -> Spec {
        self.deprecated = Some((since, by));
        self
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    pub fn arity_ok(&self, n: usize) -> bool {
        if self.arity >= 0 {
            n == self.arity as usize
        } else {
            n >= (-self.arity) as usize
        }
    }

    /// The name a user types: the part after `|` for subcommands.
    pub fn short_name(&self) -> &'static str {
        self.name.rsplit('|').next().unwrap_or(self.name)
    }

    /// Every ACL category: the explicit ones and those the flags imply, as Redis's
    /// `setImplicitACLCategories` adds them.
    pub fn categories(&self) -> u64 {
        let mut c = self.acl;
        if self.has(flags::WRITE) {
            c |= acl::WRITE;
        }
        if self.has(flags::READONLY) && c & acl::SCRIPTING == 0 {
            c |= acl::READ;
        }
        if self.has(flags::ADMIN) {
            c |= acl::ADMIN | acl::DANGEROUS;
        }
        if self.has(flags::PUBSUB) {
            c |= acl::PUBSUB;
        }
        if self.has(flags::FAST) {
            c |= acl::FAST;
        }
        if self.has(flags::BLOCKING) {
            c |= acl::BLOCKING;
        }
        if c & acl::FAST == 0 {
            c |= acl::SLOW;
        }
        c
    }

    /// Whether a spec names keys (NOT_KEY specs, shard channels, do not count).
    pub fn has_keys(&self) -> bool {
        self.keys.iter().any(|k| k.flags & key::NOT_KEY == 0)
    }

    /// The key positions in a command of `argc` arguments; `include_not_keys` adds the
    /// positions NOT_KEY specs name (cluster routing of shard channels). `Err`: the
    /// arguments contradict a spec (GETKEYS: "Invalid arguments specified"). As Redis's
    /// `getKeysFromCommandWithSpecs`: an INCOMPLETE spec hands the search to the
    /// command's own [`GetKeys`].
    pub fn keys_of<'a>(
        &self,
        argc: usize,
        arg: impl Fn(usize) -> &'a [u8] + Copy,
        include_not_keys: bool,
        out: &mut Vec<(usize, u32)>,
    ) -> Result<(), BadKeyArgs> {
        let start = out.len();
        let mut at = Vec::new();
        let mut specs = || -> Result<(), BadKeyArgs> {
            for k in self.keys {
                if k.flags & key::NOT_KEY != 0 && !include_not_keys {
                    continue;
                }
                at.clear();
                if !k.positions(argc, arg, &mut at)? {
                    continue;
                }
                out.extend(at.iter().map(|&i| (i, k.flags)));
                if k.flags & key::INCOMPLETE != 0 {
                    return Err(BadKeyArgs);
                }
            }
            Ok(())
        };
        match (specs(), self.getkeys) {
            (Ok(()), _) => Ok(()),
            (Err(e), None) => Err(e),
            (Err(_), Some(f)) => {
                out.truncate(start);
                f(argc, &|i| arg(i), out);
                Ok(())
            }
        }
    }

    /// COMMAND INFO's legacy first key, last key and step, derived from the key specs as
    /// Redis's `populateCommandLegacyRangeSpec` does, and whether keys are "movable"
    /// (not all found by that range).
    pub fn legacy_range(&self) -> ((i32, i32, i32), bool) {
        let plain = |k: &KeySpec| match (k.begin, k.find) {
            (Begin::Index(i), Find::Range { last, step, .. }) => Some((i as i32, last, step)),
            _ => None,
        };
        if self.keys.is_empty() {
            return ((0, 0, 0), false);
        }
        if let [k] = self.keys
            && let Some((first, last, step)) = plain(k)
        {
            let last = if last < 0 { last } else { first + last };
            return ((first, last, step as i32), k.flags & key::INCOMPLETE != 0);
        }
        let mut movable = false;
        let (mut first, mut last, mut prev_last) = (i32::MAX, 0i32, 0i32);
        for k in self.keys {
            let Some((f, l, step)) = plain(k) else {
                movable = true;
                continue;
            };
            if step != 1 || (prev_last != 0 && prev_last != f - 1) {
                movable = true;
                continue;
            }
            if k.flags & key::INCOMPLETE != 0 {
                movable = true;
            }
            first = first.min(f);
            let abs = if l >= 0 { l + f } else { l };
            // Redis compares these as unsigned: a negative last key wins.
            if (abs as u32) > (last as u32) {
                last = abs;
            }
            prev_last = last;
        }
        if first == i32::MAX {
            return ((0, 0, 0), true);
        }
        ((first, last, 1), movable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(spec: &Spec, args: &[&str]) -> Result<Vec<usize>, BadKeyArgs> {
        let mut out = Vec::new();
        spec.keys_of(args.len(), |i| args[i].as_bytes(), false, &mut out)?;
        Ok(out.into_iter().map(|(i, _)| i).collect())
    }

    const GET: Spec = Spec::new("get", 2, "string").keys(&[KeySpec::one(1, key::RO | key::ACCESS)]);
    const MSET: Spec =
        Spec::new("mset", -3, "string").keys(&[KeySpec::range(1, -1, 2, key::OW | key::UPDATE)]);
    const ZUNIONSTORE: Spec = Spec::new("zunionstore", -4, "sorted-set").keys(&[
        KeySpec::one(1, key::OW | key::UPDATE),
        KeySpec::counted(2, key::RO | key::ACCESS),
    ]);
    const XREAD: Spec = Spec::new("xread", -4, "stream").keys(&[KeySpec::after(
        "STREAMS",
        1,
        Find::Range {
            last: -1,
            step: 1,
            limit: 2,
        },
        key::RO | key::ACCESS,
    )]);
    const MIGRATE: Spec = Spec::new("migrate", -6, "generic").keys(&[
        KeySpec::one(3, key::RW | key::ACCESS | key::DELETE),
        KeySpec::after(
            "KEYS",
            -2,
            Find::Range {
                last: -1,
                step: 1,
                limit: 0,
            },
            key::RW | key::ACCESS | key::DELETE | key::INCOMPLETE,
        ),
    ]);

    #[test]
    fn every_way_of_naming_keys() {
        assert_eq!(keys(&GET, &["get", "k"]), Ok(vec![1]));
        assert_eq!(keys(&MSET, &["mset", "a", "1", "b", "2"]), Ok(vec![1, 3]));
        assert_eq!(
            keys(
                &ZUNIONSTORE,
                &["zunionstore", "d", "2", "a", "b", "weights", "1", "2"]
            ),
            Ok(vec![1, 3, 4])
        );
        assert_eq!(
            keys(&ZUNIONSTORE, &["zunionstore", "d", "x", "a"]),
            Err(BadKeyArgs)
        );
        assert_eq!(
            keys(&ZUNIONSTORE, &["zunionstore", "d", "5", "a"]),
            Err(BadKeyArgs)
        );
        assert_eq!(
            keys(
                &ZUNIONSTORE,
                &["zunionstore", "d", "9223372036854775807", "a"]
            ),
            Err(BadKeyArgs)
        );
        assert_eq!(
            keys(
                &XREAD,
                &["xread", "count", "2", "streams", "s1", "s2", "0", "0"]
            ),
            Ok(vec![4, 5])
        );
        assert_eq!(keys(&XREAD, &["xread", "count", "2"]), Ok(vec![]));
        // MIGRATE host port "" 0 5000 KEYS a b: the KEYS spec is incomplete, so the
        // command's own rule decides (here: the arguments after KEYS).
        let migrate = ["migrate", "h", "p", "", "0", "5000", "keys", "a", "b"];
        assert_eq!(keys(&MIGRATE, &migrate), Err(BadKeyArgs));
        fn after_keys<'a>(
            argc: usize,
            arg: &dyn Fn(usize) -> &'a [u8],
            out: &mut Vec<(usize, u32)>,
        ) {
            let at = (0..argc)
                .find(|&i| arg(i) == b"keys")
                .map_or(argc, |i| i + 1);
            out.extend((at..argc).map(|i| (i, key::RW)));
        }
        let with_rule = MIGRATE.getkeys(after_keys);
        assert_eq!(keys(&with_rule, &migrate), Ok(vec![7, 8]));
        assert_eq!(
            keys(&with_rule, &["migrate", "h", "p", "k", "0", "5000"]),
            Ok(vec![3])
        );
    }

    #[test]
    fn legacy_ranges_and_movable_keys() {
        assert_eq!(GET.legacy_range(), ((1, 1, 1), false));
        assert_eq!(MSET.legacy_range(), ((1, -1, 2), false));
        assert_eq!(ZUNIONSTORE.legacy_range(), ((1, 1, 1), true));
        assert_eq!(XREAD.legacy_range(), ((0, 0, 0), true));
        assert_eq!(MIGRATE.legacy_range(), ((3, 3, 1), true));
    }

    #[test]
    fn categories_implied_by_flags() {
        let get = GET.flags(flags::READONLY | flags::FAST).acl(acl::STRING);
        assert_eq!(get.categories(), acl::STRING | acl::READ | acl::FAST);
        let flushall = Spec::new("flushall", -1, "server")
            .flags(flags::WRITE)
            .acl(acl::KEYSPACE | acl::DANGEROUS);
        assert_eq!(
            flushall.categories(),
            acl::KEYSPACE | acl::DANGEROUS | acl::WRITE | acl::SLOW
        );
    }
}
