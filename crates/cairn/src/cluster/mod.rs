//! `cairn cluster ...`: the operator's tool for a Redis-Cluster-compatible cluster (Cairn
//! nodes, or redis-server ones). It talks to nodes only through the cluster admin commands
//! (CLUSTER MEET / ADDSLOTSRANGE / REPLICATE / SETSLOT / FORGET / NODES ..., MIGRATE),
//! one blocking connection per node; docs/cluster-cli.md lists them and why the steps are
//! ordered as they are.
//!
//! # Layout
//!
//! - `topology`: `CLUSTER NODES` parsed, slot ranges, agreement signatures (pure)
//! - `plan`: create layout, reshard slot choice, rebalance moves (pure)
//! - `throttle`: the `--max-keys-per-sec` token bucket and the Ctrl-C flag
//! - `node`: one connection and the commands sent over it
//! - `view`: every member's connection and view; open slots, agreement, waiting
//! - `migrate`: the per-slot move procedure and the progress bar
//! - `create`, `membership` (add-node, del-node), `reshard` (reshard, rebalance), `fix`,
//!   `check` (check, info), `local` (start, stop): one subcommand each

mod check;
mod create;
mod fix;
mod local;
mod membership;
mod migrate;
mod node;
mod plan;
mod reshard;
mod secret;
mod throttle;
mod topology;
mod view;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

/// Create, check, grow, reshard and repair a cluster (through Redis Cluster's admin commands)
#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Start a local cluster: N server processes on 127.0.0.1, then `create --yes`
    Start {
        /// How many nodes
        #[arg(long, default_value_t = 6)]
        nodes: usize,
        /// Replicas per primary
        #[arg(long, default_value_t = 1)]
        replicas: usize,
        /// The first node's port; the others follow it
        #[arg(long, default_value_t = 30001)]
        port: u16,
        /// Where the nodes keep their files, logs and the pid list
        #[arg(long, default_value = "./cairn-cluster")]
        dir: PathBuf,
        /// The server binary (default: this cairn, as `cairn server`); `redis-server` works
        #[arg(long, value_name = "PATH")]
        bin: Option<PathBuf>,
        /// The cluster bus secret (default: a new random one, installed on every node)
        #[arg(long, value_name = "SECRET")]
        cluster_secret: Option<String>,
    },
    /// Stop the local cluster `start` started (SIGTERM, then SIGKILL after 10 s)
    Stop {
        #[arg(long, default_value = "./cairn-cluster")]
        dir: PathBuf,
    },
    /// Make a cluster of empty nodes started with --cluster-enabled yes
    Create {
        /// The nodes, HOST:PORT each
        #[arg(required = true, num_args = 1.., value_name = "HOST:PORT")]
        nodes: Vec<String>,
        /// Replicas per primary
        #[arg(long, default_value_t = 0)]
        replicas: usize,
        /// Do not ask for confirmation
        #[arg(long)]
        yes: bool,
        /// The cluster bus secret to install on nodes that have none (default: the one
        /// the nodes share already, else a new random one)
        #[arg(long, value_name = "SECRET")]
        cluster_secret: Option<String>,
    },
    /// Check the cluster: slots covered, nodes agree, no open slot; exit 1 on problems
    Check {
        #[arg(value_name = "HOST:PORT")]
        addr: String,
    },
    /// Per primary: address, slots, keys, replicas
    Info {
        #[arg(value_name = "HOST:PORT")]
        addr: String,
    },
    /// Add an empty node, as a primary without slots or as a replica
    AddNode {
        /// The new node
        #[arg(value_name = "NEW_HOST:PORT")]
        new: String,
        /// Any node of the cluster
        #[arg(value_name = "EXISTING_HOST:PORT")]
        existing: String,
        /// Add it as a replica (of --primary-id, or of the primary with fewest replicas)
        #[arg(long, alias = "slave")]
        replica: bool,
        /// The primary it replicates (a node id or unique prefix); implies --replica
        #[arg(long, alias = "master-id", value_name = "ID")]
        primary_id: Option<String>,
    },
    /// Remove a node that owns no slots from the cluster
    DelNode {
        /// Any other node of the cluster
        #[arg(value_name = "HOST:PORT")]
        addr: String,
        /// The node to remove (an id or unique prefix)
        #[arg(value_name = "NODE_ID")]
        id: String,
        /// Also stop the removed node (SHUTDOWN)
        #[arg(long)]
        shutdown: bool,
    },
    /// Move N slots to one primary from others; resumes slots an interrupted run left open
    Reshard {
        #[arg(value_name = "HOST:PORT")]
        addr: String,
        /// Source primaries: ids or prefixes separated by commas, or `all`
        #[arg(long)]
        from: String,
        /// Target primary: an id or prefix
        #[arg(long)]
        to: String,
        /// How many slots to move
        #[arg(long)]
        slots: usize,
        #[command(flatten)]
        moving: MoveArgs,
    },
    /// Move slots so every primary holds its weighted share
    Rebalance {
        #[arg(value_name = "HOST:PORT")]
        addr: String,
        /// A primary's weight, as <node-id-prefix>=<weight> (default 1; 0 empties it)
        #[arg(long = "weight", value_name = "ID=W")]
        weights: Vec<String>,
        /// Let primaries without slots take part (e.g. one just added)
        #[arg(long, alias = "use-empty-primaries")]
        use_empty_masters: bool,
        /// Do nothing when every primary is within this percentage of its share
        #[arg(long, default_value_t = 2.0)]
        threshold: f64,
        /// Print the plan, move nothing
        #[arg(long)]
        simulate: bool,
        #[command(flatten)]
        moving: MoveArgs,
    },
    /// Settle open slots (finish moving them, or --rollback) and, with --cover, unowned ones
    Fix {
        #[arg(value_name = "HOST:PORT")]
        addr: String,
        /// Move the keys of open slots back to their source instead of finishing the move
        #[arg(long)]
        rollback: bool,
        /// Give slots no primary owns to a primary (the one holding their keys, or the
        /// one with the fewest slots)
        #[arg(long)]
        cover: bool,
        #[command(flatten)]
        moving: MoveArgs,
    },
}

/// How keys are moved (reshard, rebalance, fix).
#[derive(Debug, Args)]
struct MoveArgs {
    /// Keys per GETKEYSINSLOT / MIGRATE round
    #[arg(long, default_value_t = 10)]
    pipeline: usize,
    /// Move at most this many keys per second
    #[arg(long, value_name = "N")]
    max_keys_per_sec: Option<u64>,
    /// MIGRATE timeout in milliseconds
    #[arg(long, default_value_t = 60000, value_name = "MS")]
    timeout: u64,
    /// Overwrite keys that already exist on the target (else such a slot stops the run)
    #[arg(long)]
    replace: bool,
}

impl MoveArgs {
    fn options(&self) -> migrate::MoveOptions {
        migrate::MoveOptions {
            pipeline: self.pipeline.max(1),
            max_keys_per_sec: self.max_keys_per_sec.filter(|&r| r > 0),
            timeout: Duration::from_millis(self.timeout.max(1)),
            replace: self.replace,
        }
    }
}

/// Runs `cairn cluster ...`; returns the process's exit code (0 fine, 1 problems or an
/// error, 130 interrupted by Ctrl-C).
pub fn run(args: ClusterArgs) -> i32 {
    let result = match &args.command {
        ClusterCommand::Start {
            nodes,
            replicas,
            port,
            dir,
            bin,
            cluster_secret,
        } => local::start(&local::Start {
            nodes: *nodes,
            replicas: *replicas,
            port: *port,
            dir: dir.clone(),
            bin: bin.clone(),
            secret: cluster_secret.clone(),
        }),
        ClusterCommand::Stop { dir } => local::stop(dir),
        ClusterCommand::Create {
            nodes,
            replicas,
            yes,
            cluster_secret,
        } => create::create(nodes, *replicas, *yes, cluster_secret.as_deref()),
        ClusterCommand::Check { addr } => check::check(addr),
        ClusterCommand::Info { addr } => check::info(addr),
        ClusterCommand::AddNode {
            new,
            existing,
            replica,
            primary_id,
        } => membership::add_node(&membership::AddNode {
            new,
            existing,
            replica: *replica,
            primary: primary_id.as_deref(),
        }),
        ClusterCommand::DelNode { addr, id, shutdown } => {
            membership::del_node(&membership::DelNode {
                addr,
                id,
                shutdown: *shutdown,
            })
        }
        ClusterCommand::Reshard {
            addr,
            from,
            to,
            slots,
            moving,
        } => reshard::reshard(
            &reshard::Reshard {
                addr,
                from,
                to,
                slots: *slots,
            },
            &moving.options(),
        ),
        ClusterCommand::Rebalance {
            addr,
            weights,
            use_empty_masters,
            threshold,
            simulate,
            moving,
        } => reshard::rebalance(
            &reshard::Rebalance {
                addr,
                weights,
                use_empty_masters: *use_empty_masters,
                threshold: *threshold,
                simulate: *simulate,
            },
            &moving.options(),
        ),
        ClusterCommand::Fix {
            addr,
            rollback,
            cover,
            moving,
        } => fix::fix(
            &fix::Fix {
                addr,
                rollback: *rollback,
                cover: *cover,
            },
            &moving.options(),
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cairn cluster: {e:#}");
            1
        }
    }
}
