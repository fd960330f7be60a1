//! The `cairn` binary: `cairn server`, `cairn cluster ...` (the operator's cluster tool);
//! `cairn bench` and `cairn proxy` later.

mod cluster;

use std::sync::Arc;

use anyhow::Context as _;
use cairn_server::config::{Mutability, SETTINGS};
use cairn_server::{Config, Hooks, Server};
use clap::{Arg, ArgAction, ArgMatches, Args as _, Command, FromArgMatches as _};
use tracing_subscriber::{EnvFilter, prelude::*, reload};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn cli() -> Command {
    let mut server = Command::new("server")
        .about("Run a Cairn node (Redis protocol on 127.0.0.1:6379 by default)")
        .long_about(
            "Run a Cairn node. Every setting is a Redis directive name and can be given \
             as --name value (as redis-server takes it), in a TOML file passed with \
             --config, or changed at run time with CONFIG SET where marked [runtime]. \
             The command line wins over the file.",
        )
        .arg(
            Arg::new("config")
                .long("config")
                .value_name("FILE")
                .help("TOML file of settings (name = value, Redis directive names)"),
        )
        .arg(
            Arg::new("import-rdb")
                .long("import-rdb")
                .value_name("PATH")
                .help(
                    "Load a dump.rdb written by redis-server 6.2 to 7.x into the keyspace at \
                     start, before serving (refuses to start if the file is bad)",
                ),
        )
        .next_help_heading("Settings");
    for s in SETTINGS {
        let runtime = if s.mutability == Mutability::Runtime {
            " [runtime]"
        } else {
            ""
        };
        let default = (s.get)(&Config::default());
        let mut arg = Arg::new(s.name)
            .long(s.name)
            .value_name("VALUE")
            .allow_hyphen_values(false)
            .help(format!("{}{} (default: {:?})", s.help, runtime, default));
        arg = if s.multi_word {
            arg.num_args(0..).action(ArgAction::Append)
        } else {
            arg.num_args(1).action(ArgAction::Set)
        };
        server = server.arg(arg);
    }
    Command::new("cairn")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A distributed in-memory cache that speaks the Redis protocol")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(server)
        .subcommand(cluster::ClusterArgs::augment_args(
            Command::new("cluster")
                .subcommand_required(true)
                .arg_required_else_help(true),
        ))
        .subcommand(
            Command::new("check-aof")
                .about(
                    "Check an append-only file increment, or the whole set when FILE is its \
                     manifest (every part there and whole); with --fix, cut the (last) \
                     increment at the first damage",
                )
                .arg(
                    Arg::new("fix")
                        .long("fix")
                        .action(ArgAction::SetTrue)
                        .help("Truncate the file at the last whole command"),
                )
                .arg(Arg::new("file").required(true).value_name("FILE")),
        )
        .subcommand(
            Command::new("check-snapshot")
                .about(
                    "Verify a snapshot file (dump file or AOF base): format, checksums, key count",
                )
                .arg(Arg::new("file").required(true).value_name("FILE")),
        )
}

/// `cairn check-aof` / `cairn check-snapshot`: exit 0 when the file is whole.
fn check(name: &str, m: &ArgMatches) -> ! {
    let file = std::path::PathBuf::from(m.get_one::<String>("file").expect("required"));
    let result = match name {
        "check-aof" if file.extension().is_some_and(|e| e == "manifest") => {
            cairn_server::persist::check::check_set(&file, m.get_flag("fix"))
        }
        "check-aof" => cairn_server::persist::check::check(&file, m.get_flag("fix")),
        _ => match std::fs::read(&file) {
            Ok(data) => match cairn_server::persist::snapshot::read(&data, |_, _| Ok(())) {
                Ok(c) => Ok((
                    format!(
                        "{}: Cairn snapshot, {} keys in {} blocks, stream offset {}{}, replication id {}: OK",
                        file.display(),
                        c.keys,
                        c.blocks,
                        c.origin.pos.offset,
                        if c.cuts.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " ({} shards cut by offset {})",
                                c.cuts.shards().len(),
                                c.cuts.end()
                            )
                        },
                        c.origin.replid()
                    ),
                    true,
                )),
                Err(d) => Ok((
                    format!("{}: damaged at offset {}: {}", file.display(), d.at, d.why),
                    false,
                )),
            },
            Err(e) => Err(format!("cannot read {}: {e}", file.display())),
        },
    };
    match result {
        Ok((report, whole)) => {
            println!("{report}");
            std::process::exit(if whole { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("cairn: {e}");
            std::process::exit(2);
        }
    }
}

/// The configuration: defaults, then the TOML file, then the command line.
fn load_config(m: &ArgMatches) -> anyhow::Result<Config> {
    let mut cfg = Config::default();
    if let Some(path) = m.get_one::<String>("config") {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        cfg.apply_toml(&text)
            .map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    }
    for s in SETTINGS {
        if m.value_source(s.name) != Some(clap::parser::ValueSource::CommandLine) {
            continue;
        }
        let value = m
            .get_many::<String>(s.name)
            .map(|vs| vs.cloned().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        cfg.apply(s.name, &value, false)
            .map_err(|e| anyhow::anyhow!("--{}: {e}", s.name))?;
    }
    Ok(cfg)
}

/// Redis's log levels mapped onto tracing's.
fn filter_for(level: &str) -> EnvFilter {
    let level = match level {
        "debug" => "debug",
        "verbose" => "info",
        "notice" => "info",
        "warning" => "warn",
        _ => "off",
    };
    // openraft narrates every membership step at info; its warnings are what an operator
    // needs (Cairn logs the cluster's own events itself), except at `debug`.
    if level == "debug" {
        EnvFilter::new(level)
    } else {
        EnvFilter::new(format!("{level},openraft=warn"))
    }
}

fn main() {
    // Configuration and start-up errors are for a person to read: one line, no backtrace.
    if let Err(e) = run() {
        eprintln!("cairn: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let matches = cli().get_matches();
    let m = match matches.subcommand() {
        Some(("server", m)) => m,
        Some(("cluster", m)) => {
            let args = match cluster::ClusterArgs::from_arg_matches(m) {
                Ok(args) => args,
                Err(e) => e.exit(),
            };
            std::process::exit(cluster::run(args));
        }
        Some((name, m)) => check(name, m),
        None => unreachable!("subcommand_required"),
    };
    let cfg = load_config(m)?;
    let import = m
        .get_one::<String>("import-rdb")
        .map(std::path::PathBuf::from);
    if let Some(path) = &import {
        cairn_server::persist::import::check_path(&cfg.dir, &cfg.dbfilename, path)
            .map_err(anyhow::Error::msg)?;
    }

    let initial = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => filter_for(&cfg.loglevel),
    };
    let (filter, handle) = reload::Layer::new(initial);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logfile = cfg.logfile.clone();
    if logfile.is_empty() {
        tracing_subscriber::registry().with(filter).with(fmt).init();
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&logfile)
            .with_context(|| format!("opening logfile {logfile}"))?;
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file));
        tracing_subscriber::registry().with(filter).with(fmt).init();
    }
    let hooks = Hooks {
        set_loglevel: Some(Box::new(move |level: &str| {
            let _ = handle.modify(|f| *f = filter_for(level));
        })),
    };

    if !cfg.pidfile.is_empty() {
        std::fs::write(&cfg.pidfile, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing pidfile {}", cfg.pidfile))?;
    }
    // Connections run on their own worker threads (cairn_server::workers); this runtime
    // only accepts, runs the cron and waits for signals.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pidfile = cfg.pidfile.clone();
    let log_to_file = !logfile.is_empty();
    let result = runtime.block_on(async move {
        let server = Server::new(cfg, hooks);
        tokio::spawn(watch_signals(server.clone()));
        let srv = server.clone();
        cairn_server::run(server, move |addrs| {
            // Persistence has loaded; no connection is served before this returns.
            if let Some(path) = &import
                && let Err(e) = cairn_server::persist::import::import(&srv, path)
            {
                // Exit at once: no shutdown save of what is loaded.
                if log_to_file {
                    tracing::error!("{e}");
                }
                eprintln!("cairn: {e}");
                std::process::exit(1);
            }
            let list: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
            tracing::warn!(
                "Cairn {} (Redis {} compatible) ready to accept connections tcp {}",
                cairn_server::CAIRN_VERSION,
                cairn_server::REDIS_VERSION,
                list.join(" ")
            );
        })
        .await
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if !pidfile.is_empty() {
        let _ = std::fs::remove_file(&pidfile);
    }
    if let Err(e) = &result
        && !logfile.is_empty()
    {
        tracing::error!("server failed: {e}");
    }
    result.context("server failed")?;
    tracing::warn!("Cairn is now ready to exit, bye bye...");
    Ok(())
}

/// SIGTERM and SIGINT start the same orderly shutdown as the SHUTDOWN command.
async fn watch_signals(server: Arc<Server>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::warn!("Received SIGTERM scheduling shutdown..."),
        _ = int.recv() => tracing::warn!("Received SIGINT scheduling shutdown..."),
    }
    server.shutdown();
}
