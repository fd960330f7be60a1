//! Moving one slot's ownership and keys from one primary to another, as redis-cli does,
//! from whatever state an earlier, interrupted move left it in:
//!
//! ```text
//! target:  CLUSTER SETSLOT s IMPORTING <source>      (unless the target already owns s)
//! source:  CLUSTER SETSLOT s MIGRATING <target>      (unless the source no longer owns s)
//! source:  CLUSTER GETKEYSINSLOT s <pipeline>        repeated until empty, each batch
//!          MIGRATE host port "" 0 <timeout> KEYS k1 k2 ...
//! target:  CLUSTER SETSLOT s NODE <target>           ownership changes here
//! source:  CLUSTER SETSLOT s NODE <target>
//! others:  CLUSTER SETSLOT s NODE <target>           every other primary
//! ```
//!
//! Each step is skipped when the state it makes is already there, so running a move again
//! on a half-moved slot resumes it; `fix --rollback` runs the same procedure the other way.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::node::{Node, SetSlot, error_text};
use super::throttle::{Interrupt, TokenBucket};
use super::topology::{Marker, short};
use super::view::{self, Cluster};

/// How keys are moved.
#[derive(Debug, Clone)]
pub struct MoveOptions {
    /// Keys per GETKEYSINSLOT / MIGRATE round trip.
    pub pipeline: usize,
    /// At most this many keys per second (token bucket), if set.
    pub max_keys_per_sec: Option<u64>,
    /// MIGRATE's timeout.
    pub timeout: Duration,
    /// Overwrite keys that already exist on the target (retry a BUSYKEY batch with REPLACE).
    pub replace: bool,
}

/// One slot to move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMove {
    pub slot: u16,
    pub from: String,
    pub to: String,
}

/// How a run of moves ended.
#[derive(Debug)]
pub enum Outcome {
    /// Every slot moved.
    Done,
    /// Ctrl-C: `done` slots moved; `open`, when the stop came in the middle of a slot, is
    /// that slot, left half-moved, with the number of keys still on its source.
    Interrupted {
        done: usize,
        open: Option<(SlotMove, u64)>,
    },
}

/// Moves slots one after the other with a progress bar over their keys.
pub struct Mover {
    opts: MoveOptions,
    bucket: Option<TokenBucket>,
    interrupt: Interrupt,
    bar: ProgressBar,
}

/// What a slot's move came to.
enum Step {
    Moved,
    Interrupted,
}

/// The most rounds in a row in which MIGRATE finds none of the keys GETKEYSINSLOT listed
/// before the move is given up.
const MAX_IDLE_ROUNDS: u32 = 200;

impl Mover {
    fn new(opts: MoveOptions, interrupt: Interrupt, total_keys: u64) -> Mover {
        let batch = batch_size(&opts);
        let bucket = opts
            .max_keys_per_sec
            .map(|rate| TokenBucket::new(rate, batch, Instant::now()));
        let bar = ProgressBar::new(total_keys);
        bar.set_style(
            ProgressStyle::with_template(
                "[{elapsed_precise}] [{wide_bar}] {human_pos}/{human_len} keys, {per_sec}, ETA {eta} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        Mover {
            opts,
            bucket,
            interrupt,
            bar,
        }
    }

    /// Moves `slot` from `from` to `to` (see the module's procedure).
    fn move_slot(&mut self, cluster: &mut Cluster, mv: &SlotMove) -> anyhow::Result<Step> {
        let SlotMove { slot, from, to } = mv;
        let slot = *slot;
        if from == to {
            bail!("slot {slot}: source and target are the same node");
        }
        let a_me = cluster.member_mut(from)?.node.myself()?;
        let b_me = cluster.member_mut(to)?.node.myself()?;
        let target = {
            let b = cluster.member_mut(to)?;
            (b.entry.host.clone(), b.node.port)
        };
        // The target must accept the keys: as their importer, or as the owner (then not
        // MIGRATING elsewhere, or it would answer each restore of a key it lacks with ASK).
        {
            let b = &mut cluster.member_mut(to)?.node;
            let marker = b_me.marker(slot);
            if b_me.owns(slot) {
                if marker.is_some() {
                    b.setslot(slot, SetSlot::Stable)?;
                }
            } else if marker != Some(Marker::Importing(from.clone())) {
                if marker.is_some() {
                    b.setslot(slot, SetSlot::Stable)?;
                }
                b.setslot(slot, SetSlot::Importing(from))?;
            }
        }
        // The source must serve MIGRATE for the slot's keys: a node runs MIGRATE locally
        // when the slot is open on it (MIGRATING, or IMPORTING for a node that holds keys
        // of a slot it does not own, as in a rollback).
        let a_owns = a_me.owns(slot);
        {
            let a = &mut cluster.member_mut(from)?.node;
            let marker = a_me.marker(slot);
            if a_owns {
                if marker != Some(Marker::Migrating(to.clone())) {
                    if marker.is_some() {
                        a.setslot(slot, SetSlot::Stable)?;
                    }
                    a.setslot(slot, SetSlot::Migrating(to))?;
                }
            } else if marker.is_none() && a.count_keys(slot)? > 0 {
                a.setslot(slot, SetSlot::Importing(to))?;
            }
        }
        self.bar
            .set_message(format!("slot {slot} {} -> {}", short(from), short(to)));
        for attempt in 0.. {
            if let Step::Interrupted = self.move_keys(cluster, mv, (&target.0, target.1))? {
                return Ok(Step::Interrupted);
            }
            cluster
                .member_mut(to)?
                .node
                .setslot(slot, SetSlot::Node(to))?;
            match cluster
                .member_mut(from)?
                .node
                .setslot(slot, SetSlot::Node(to))
            {
                Ok(()) => break,
                // A key written meanwhile (only a client ignoring ASK can): move it too.
                Err(e) if attempt < 3 && e.to_string().contains("still hold keys") => continue,
                Err(e) => return Err(e),
            }
        }
        if !a_owns {
            cluster
                .member_mut(from)?
                .node
                .setslot(slot, SetSlot::Stable)?;
        }
        let others: Vec<String> = cluster
            .primary_ids()
            .into_iter()
            .filter(|id| id != from && id != to)
            .collect();
        for id in others {
            let m = cluster.member_mut(&id)?;
            if let Err(e) = m.node.setslot(slot, SetSlot::Node(to)) {
                // It learns the new owner from the others anyway; say so and go on (not
                // with the bar's println, which prints nothing when the bar is hidden).
                self.bar.suspend(|| eprintln!("[WARNING] {e:#}"));
            }
        }
        Ok(Step::Moved)
    }

    /// GETKEYSINSLOT + MIGRATE until the source has no key left in the slot.
    fn move_keys(
        &mut self,
        cluster: &mut Cluster,
        mv: &SlotMove,
        target: (&str, u16),
    ) -> anyhow::Result<Step> {
        let batch = batch_size(&self.opts);
        let mut idle = 0u32;
        let mut waited = Duration::ZERO;
        loop {
            if self.interrupt.requested() {
                return Ok(Step::Interrupted);
            }
            let a = &mut cluster.member_mut(&mv.from)?.node;
            let keys = a.keys_in_slot(mv.slot, batch)?;
            if keys.is_empty() {
                return Ok(Step::Moved);
            }
            if let Some(bucket) = &mut self.bucket {
                let wait = bucket.take(keys.len(), Instant::now());
                if self.interrupt.sleep(wait) {
                    return Ok(Step::Interrupted);
                }
            }
            let fail = |e: &redis::RedisError| {
                anyhow!(
                    "{}: MIGRATE of {} key(s) of slot {} to {}:{}: {}",
                    short(&mv.from),
                    keys.len(),
                    mv.slot,
                    target.0,
                    target.1,
                    error_text(e)
                )
            };
            let reply = match a.migrate(target, &keys, self.opts.timeout, false) {
                Ok(reply) => reply,
                Err(e) if error_text(&e).contains("BUSYKEY") => {
                    if !self.opts.replace {
                        let differ = differing_copies(cluster, mv, &keys)?;
                        if let Some(key) = differ.first() {
                            return Err(fail(&e).context(format!(
                                "{} key(s) of this slot exist on the target with another \
                                 value (one is {:?}); run again with --replace to overwrite \
                                 the target's copies",
                                differ.len(),
                                String::from_utf8_lossy(key),
                            )));
                        }
                        // The target holds the very same values: copies an earlier pass
                        // sent before a crash kept the source from removing its own (as
                        // redis-cli does, compare, then replace).
                        self.bar.suspend(|| {
                            eprintln!(
                                "[WARNING] slot {}: keys already on the target with the same \
                                 values; replacing them",
                                mv.slot
                            )
                        });
                    }
                    cluster
                        .member_mut(&mv.from)?
                        .node
                        .migrate(target, &keys, self.opts.timeout, true)
                        .map_err(|e| fail(&e))?
                }
                // Passing states: keys expired between GETKEYSINSLOT and MIGRATE
                // (TRYAGAIN), or the target has not yet seen the whole cluster up
                // (CLUSTERDOWN, for a few seconds after it joined): try again.
                Err(e) if transient(&e) && waited < TRANSIENT_LIMIT => {
                    waited += TRANSIENT_PAUSE;
                    if self.interrupt.sleep(TRANSIENT_PAUSE) {
                        return Ok(Step::Interrupted);
                    }
                    continue;
                }
                Err(e) => return Err(fail(&e)),
            };
            if reply == "NOKEY" {
                idle += 1;
                if idle >= MAX_IDLE_ROUNDS {
                    bail!(
                        "slot {}: GETKEYSINSLOT keeps listing keys MIGRATE does not find",
                        mv.slot
                    );
                }
                // NOKEY: none of them moved (they expired or were deleted meanwhile)
                continue;
            }
            idle = 0;
            waited = Duration::ZERO;
            if self.bar.position() + keys.len() as u64 > self.bar.length().unwrap_or(0) {
                // keys written during the move
                self.bar.set_length(self.bar.position() + keys.len() as u64);
            }
            self.bar.inc(keys.len() as u64);
        }
    }
}

/// The keys of `keys` that both the source and the target of `mv` hold, with different
/// values. Values are compared by DEBUG DIGEST-VALUE, or by DUMP payload where either node
/// refuses DEBUG.
fn differing_copies(
    cluster: &mut Cluster,
    mv: &SlotMove,
    keys: &[Vec<u8>],
) -> anyhow::Result<Vec<Vec<u8>>> {
    let read = |cluster: &mut Cluster, id: &str, dump: bool| -> anyhow::Result<_> {
        let node = &mut cluster.member_mut(id)?.node;
        let result = if dump {
            node.dumps(keys)
        } else {
            node.digests(keys)
        };
        Ok(result.map_err(|e| anyhow!("{}: comparing values: {}", node.addr, error_text(&e))))
    };
    let (mut a, mut b) = (
        read(cluster, &mv.from, false)?,
        read(cluster, &mv.to, false)?,
    );
    if a.is_err() || b.is_err() {
        (a, b) = (read(cluster, &mv.from, true)?, read(cluster, &mv.to, true)?);
    }
    let (a, b) = (a?, b?);
    Ok(keys
        .iter()
        .zip(a.iter().zip(&b))
        .filter(|(_, (x, y))| x.is_some() && y.is_some() && x != y)
        .map(|(k, _)| k.clone())
        .collect())
}

/// How long MIGRATE is retried through TRYAGAIN / CLUSTERDOWN before the move gives up.
const TRANSIENT_LIMIT: Duration = Duration::from_secs(30);
const TRANSIENT_PAUSE: Duration = Duration::from_millis(50);

/// TRYAGAIN, or CLUSTERDOWN from either end (MIGRATE relays the target's error inside
/// `ERR Target instance replied with error: ...`).
fn transient(e: &redis::RedisError) -> bool {
    let text = error_text(e);
    text.starts_with("TRYAGAIN") || text.contains("CLUSTERDOWN")
}

/// Keys per round trip: `--pipeline`, but no more than a second's worth of the rate limit.
fn batch_size(opts: &MoveOptions) -> usize {
    let batch = opts.pipeline.max(1);
    match opts.max_keys_per_sec {
        Some(rate) => batch.min(rate.max(1) as usize),
        None => batch,
    }
}

/// Moves `moves` in order with a progress bar (hidden when stderr is not a terminal),
/// stopping after the current batch on Ctrl-C. An error leaves the slot being moved open
/// and says so; `cairn cluster fix` finishes it.
pub fn run_moves(
    cluster: &mut Cluster,
    moves: &[SlotMove],
    opts: &MoveOptions,
    interrupt: &Interrupt,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let mut total = 0u64;
    for mv in moves {
        total += cluster.member_mut(&mv.from)?.node.count_keys(mv.slot)?;
    }
    println!(">>> Moving {} slot(s) holding {total} key(s)", moves.len());
    let mut mover = Mover::new(opts.clone(), interrupt.clone(), total);
    let entry = cluster.members[0].node.addr.clone();
    for (done, mv) in moves.iter().enumerate() {
        if interrupt.requested() {
            mover.bar.abandon();
            return Ok(Outcome::Interrupted { done, open: None });
        }
        let step = mover.move_slot(cluster, mv).map_err(|e| {
            mover.bar.abandon();
            e.context(format!(
                "moving slot {} from {} to {} failed after {done} slot(s); the slot may be left \
                 open: `cairn cluster fix {entry}` finishes it, `--rollback` puts it back",
                mv.slot,
                cluster.label(&mv.from),
                cluster.label(&mv.to),
            ))
        })?;
        if let Step::Interrupted = step {
            mover.bar.abandon();
            let left = cluster.member_mut(&mv.from)?.node.count_keys(mv.slot)?;
            return Ok(Outcome::Interrupted {
                done,
                open: Some((mv.clone(), left)),
            });
        }
    }
    mover.bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "Moved {} slot(s), {} key(s) in {secs:.1}s ({:.0} keys/s)",
        moves.len(),
        mover.bar.position(),
        mover.bar.position() as f64 / secs.max(0.001)
    );
    // Replicas (and on Redis, the primaries not told directly) learn the new owners from
    // the others; a check right after the command should find them agreeing.
    let mut nodes: Vec<&mut Node> = cluster.members.iter_mut().map(|m| &mut m.node).collect();
    view::wait_for("every node to learn the new owners", || {
        view::settled(&mut nodes, false)
    })?;
    Ok(Outcome::Done)
}

/// What to tell the user after an interruption (the commands to resume or undo).
pub fn interrupted_message(cluster: &Cluster, open: &Option<(SlotMove, u64)>) -> String {
    let entry = &cluster.members[0].node.addr;
    let Some((open, left)) = open else {
        return "Stopped between two slots: no slot is left open.".to_string();
    };
    format!(
        "Slot {} is left open, half-moved from {} to {}, with {left} key(s) still to move.\n\
         Clients keep working (they are redirected with ASK). To finish only this slot: \
         cairn cluster fix {entry}\nTo put it back where it was: cairn cluster fix {entry} --rollback",
        open.slot,
        cluster.label(&open.from),
        cluster.label(&open.to),
    )
}
