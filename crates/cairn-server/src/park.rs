//! Every way a connection waits between a command and its reply, as one enum: the
//! command (or dispatch, for a pause) says what it waits for, the connection flushes what
//! came before, waits without holding anything, and then either writes the reply the wait
//! produced or runs the command again through dispatch (so a redirect, a new role or an
//! ACL change since it parked applies). Blocking commands on keys (BLPOP, BLMOVE, later
//! BZPOPMIN and XREAD BLOCK) park as [`Park::Blocked`], served by `crate::blocking`.
//!
//! Inside MULTI, EXEC and scripts nothing parks: a handler asked to run there
//! (`Ctx::may_park` false) answers at once, as Redis's blocking commands do in a
//! transaction (see `dispatch::nested` for those that finish elsewhere).

use std::time::{Duration, Instant};

/// A command that finishes elsewhere (CLUSTER MEET, CLUSTER FAILOVER, MIGRATE): its
/// outcome is the reply, a status line or an error line.
pub type Deferred =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send>>;

pub enum Park {
    /// CLIENT PAUSE holds this command until `until` (or CLIENT UNPAUSE): then it runs
    /// again, judged anew.
    Paused { until: Instant },
    /// WAIT: answer how many replicas acknowledged `offset`, once `replicas` did or at
    /// `deadline` (none: for ever).
    Acks {
        offset: u64,
        replicas: usize,
        deadline: Option<Instant>,
    },
    /// DEBUG SLEEP: read nothing more for this long (the reply is written already).
    Sleep(Duration),
    /// Finishes elsewhere; its outcome is the reply.
    Deferred(Deferred),
    /// Blocked on keys until served, timed out, unblocked, or told to run again.
    Blocked(crate::blocking::Parked),
}

impl std::fmt::Debug for Park {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Park::Paused { until } => write!(f, "Paused({until:?})"),
            Park::Acks {
                offset, replicas, ..
            } => write!(f, "Acks({offset}, {replicas})"),
            Park::Sleep(d) => write!(f, "Sleep({d:?})"),
            Park::Deferred(_) => f.write_str("Deferred"),
            Park::Blocked(p) => write!(f, "{p:?}"),
        }
    }
}
