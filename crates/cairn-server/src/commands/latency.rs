//! LATENCY: LATEST, HISTORY, RESET, DOCTOR, GRAPH, HISTOGRAM, HELP, and the latency
//! monitor's time series.
//!
//! With `latency-monitor-threshold` above 0, a command that ran at least that many
//! milliseconds adds a sample to the `command` event (`fast-command` for commands flagged
//! FAST), as Redis's `call()` does. Each event keeps Redis's 160 samples, one per second
//! (the worst of that second), and its all-time maximum. Dispatch calls [`observe`] for
//! every command; below the threshold (or with the monitor off, the default) that is one
//! relaxed load and a comparison.
//!
//! LATENCY HISTOGRAM reads the per-command histograms INFO latencystats reports
//! (`crate::stats`), in Redis 7's format: cumulative counts at power-of-two buckets of
//! microseconds.

use cairn_protocol::Args;
use hdrhistogram::Histogram;

use crate::commands::args::help_reply;
use crate::ctx::{Command, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::latency::{Series, unix_now};
use crate::spec::{CommandId, Spec, flags::*};

const TIPS: &[&str] = &[
    "nondeterministic_output",
    "request_policy:all_nodes",
    "response_policy:special",
];

const SUBCOMMANDS: &[Command] = &[
    Spec::new("latency|doctor", 2, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .tips(TIPS)
        .doc(
            "2.8.13",
            "Returns a human-readable latency analysis report.",
        )
        .complexity("O(1)")
        .run(doctor),
    Spec::new("latency|graph", 3, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .tips(TIPS)
        .doc("2.8.13", "Returns a latency graph for an event.")
        .complexity("O(1)")
        .run(graph),
    Spec::new("latency|history", 3, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .tips(TIPS)
        .doc("2.8.13", "Returns timestamp-latency samples for an event.")
        .complexity("O(1)")
        .run(history),
    Spec::new("latency|latest", 2, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .tips(TIPS)
        .doc(
            "2.8.13",
            "Returns the latest latency samples for all events.",
        )
        .complexity("O(1)")
        .run(latest),
    Spec::new("latency|reset", -2, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .tips(&["request_policy:all_nodes", "response_policy:all_succeeded"])
        .doc("2.8.13", "Resets the latency data for one or more events.")
        .complexity("O(1)")
        .run(reset),
    Spec::new("latency|histogram", -2, "server")
        .flags(ADMIN | NOSCRIPT | LOADING | STALE)
        .tips(TIPS)
        .doc(
            "7.0.0",
            "Returns the cumulative distribution of latencies of a subset or all commands.",
        )
        .complexity(
            "O(N) where N is the number of commands with latency information being retrieved.",
        )
        .run(histogram),
    Spec::new("latency|help", 2, "server")
        .flags(LOADING | STALE)
        .doc(
            "2.8.13",
            "Returns helpful text about the different subcommands.",
        )
        .complexity("O(1)")
        .run(help),
];

pub const COMMANDS: &[Command] = &[Spec::new("latency", -2, "server")
    .doc("2.8.13", "A container for latency diagnostics commands.")
    .complexity("Depends on subcommand.")
    .container(SUBCOMMANDS)];

/// Redis's `LATENCY_TS_LEN` and `LATENCY_GRAPH_COLS`.
const GRAPH_COLS: usize = 80;

/// LATENCY LATEST: [event, time of the latest sample, its latency, all-time max] each.
fn latest(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let events = ctx.server.latency.events();
    ctx.out.array(events.len());
    for (event, ts) in events {
        let last = ts.last();
        ctx.out.array(4);
        ctx.out.bulk(event.as_bytes());
        ctx.out.int(last.0);
        ctx.out.int(i64::from(last.1));
        ctx.out.int(i64::from(ts.max));
    }
    Ok(())
}

/// LATENCY HISTORY event: [time, latency] per sample, oldest first.
fn history(ctx: &mut Ctx, args: Args) -> CmdResult {
    let Some((_, ts)) = ctx.server.latency.find(args.get(2)) else {
        ctx.out.array(0);
        return Ok(());
    };
    let samples: Vec<(i64, u32)> = ts.in_order().collect();
    ctx.out.array(samples.len());
    for (t, ms) in samples {
        ctx.out.array(2);
        ctx.out.int(t);
        ctx.out.int(i64::from(ms));
    }
    Ok(())
}

/// LATENCY RESET [event ...]: how many events were dropped.
fn reset(ctx: &mut Ctx, args: Args) -> CmdResult {
    let n = ctx.server.latency.reset(args.tail(2).iter());
    ctx.out.int(n as i64);
    Ok(())
}

/// LATENCY GRAPH event: Redis's ASCII sparkline of the event's samples.
fn graph(ctx: &mut Ctx, args: Args) -> CmdResult {
    let Some((event, ts)) = ctx.server.latency.find(args.get(2)) else {
        return Err(CmdError::new(format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(args.get(2))
        )));
    };
    ctx.out
        .verbatim(sparkline(&event, &ts, unix_now()).as_bytes());
    Ok(())
}

/// Redis's `latencyCommandGenSparkeline` and `sparklineRender` (4 rows, filled).
fn sparkline(event: &str, ts: &Series, now: i64) -> String {
    let samples: Vec<(u32, String)> = ts
        .in_order()
        .map(|(t, ms)| {
            let elapsed = now - t;
            let label = if elapsed < 60 {
                format!("{elapsed}s")
            } else if elapsed < 3600 {
                format!("{}m", elapsed / 60)
            } else if elapsed < 3600 * 24 {
                format!("{}h", elapsed / 3600)
            } else {
                format!("{}d", elapsed / (3600 * 24))
            };
            (ms, label)
        })
        .collect();
    let min = samples.iter().map(|s| s.0).min().unwrap_or(0);
    let max = samples.iter().map(|s| s.0).max().unwrap_or(0);
    let mut out = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n",
        ts.max
    );
    out.push_str(&"-".repeat(GRAPH_COLS));
    out.push('\n');
    for (n, chunk) in samples.chunks(GRAPH_COLS).enumerate() {
        if n != 0 {
            out.push('\n');
        }
        render_range(&mut out, chunk, min, max, 4);
    }
    out
}

/// Redis's `sparklineRenderRange` with `SPARKLINE_FILL`: `rows` rows of bars, a blank
/// row, then each sample's label written downwards.
fn render_range(out: &mut String, seq: &[(u32, String)], min: u32, max: u32, rows: usize) {
    const FILL: [char; 3] = ['_', 'o', '#'];
    let steps = (FILL.len() * rows) as i64;
    let relmax = match f64::from(max - min) {
        0.0 => 1.0,
        r => r,
    };
    let labels = !seq.is_empty();
    let mut row = 0;
    loop {
        let mut chars = vec![' '; seq.len()];
        let mut more = false;
        for (j, (value, label)) in seq.iter().enumerate() {
            let relval = f64::from(value - min);
            let step =
                ((((relval * steps as f64) as i64) as f64 / relmax) as i64).clamp(0, steps - 1);
            if row < rows {
                more = true;
                let charidx = step - ((rows - row - 1) * FILL.len()) as i64;
                if (0..FILL.len() as i64).contains(&charidx) {
                    chars[j] = FILL[charidx as usize];
                } else if charidx >= FILL.len() as i64 {
                    chars[j] = '|';
                }
            } else {
                if labels && row - rows < 1 {
                    more = true;
                    break;
                }
                let at = row - rows - 1;
                if let Some(c) = label.as_bytes().get(at) {
                    more = true;
                    chars[j] = char::from(*c);
                }
            }
        }
        if !more {
            break;
        }
        row += 1;
        out.extend(chars);
        out.push('\n');
    }
}

/// What Redis's `analyzeLatencyForEvent` computes.
struct Analysis {
    samples: u64,
    avg: u64,
    mad: u64,
    period: i64,
}

fn analyze(ts: &Series, now: i64) -> Analysis {
    let used: Vec<(i64, u32)> = ts.in_order().collect();
    let samples = used.len() as u64;
    if samples == 0 {
        return Analysis {
            samples,
            avg: 0,
            mad: 0,
            period: 0,
        };
    }
    let sum: u64 = used.iter().map(|s| u64::from(s.1)).sum();
    let avg = sum / samples;
    let oldest = used.iter().map(|s| s.0).min().unwrap_or(now);
    let period = (now - oldest).max(1);
    let mad = used
        .iter()
        .map(|s| (avg as i64 - i64::from(s.1)).unsigned_abs())
        .sum::<u64>()
        / samples;
    Analysis {
        samples,
        avg,
        mad,
        period,
    }
}

/// LATENCY DOCTOR: Redis's report, for the events Cairn records.
fn doctor(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let events = ctx.server.latency.events();
    let threshold = ctx.server.latency.threshold();
    let text = if events.is_empty() && threshold == 0 {
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Cairn instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string()
    } else if events.is_empty() {
        "Dave, no latency spike was observed during the lifetime of this Cairn instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".to_string()
    } else {
        report(&events, threshold, ctx.server.slowlog.slower_than())
    };
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

fn report(events: &[(String, Series)], threshold: u64, slower_than: i64) -> String {
    let now = unix_now();
    let mut t = "Dave, I have observed latency spikes in this Cairn instance. You don't mind talking about it, do you Dave?\n\n".to_string();
    let (mut slowlog_enable, mut slowlog_tune, mut inspect, mut scheduler) =
        (false, false, false, false);
    for (n, (event, ts)) in events.iter().enumerate() {
        let a = analyze(ts, now);
        t.push_str(&format!(
            "{}. {event}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.\n",
            n + 1,
            a.samples,
            a.avg,
            a.mad,
            a.period as f64 / a.samples.max(1) as f64,
            ts.max
        ));
        match event.as_str() {
            "fast-command" => scheduler = true,
            "command" => {
                if slower_than < 0 {
                    slowlog_enable = true;
                } else if slower_than as u64 / 1000 > threshold {
                    slowlog_tune = true;
                }
                inspect = true;
            }
            _ => {}
        }
    }
    t.push_str("\nI have a few advices for you:\n\n");
    if slowlog_enable {
        t.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Cairn is not able to log slow commands execution for you.\n", threshold * 1000));
    }
    if slowlog_tune {
        t.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold * 1000));
    }
    if inspect {
        t.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    }
    if scheduler {
        t.push_str("- Commands flagged as fast took milliseconds: the threads running them did not get the CPU, or waited for a shard another thread held. Lower the system load, run Cairn on cores of its own (see the `threads` setting), and look for large multi-key commands touching the same shards.\n");
    }
    if inspect {
        t.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    t
}

/// LATENCY HISTOGRAM [command ...]: per command, its calls and the cumulative count at
/// each power-of-two bucket of microseconds (Redis's `fillCommandCDF`). Commands without
/// samples are left out; a container stands for its subcommands.
fn histogram(ctx: &mut Ctx, args: Args) -> CmdResult {
    let table = crate::table::Table::get();
    let counters = ctx.server.stats.snapshot();
    let data = |id: CommandId| -> Option<&Histogram<u64>> {
        counters
            .commands
            .get(id.index())
            .and_then(|c| c.latency.as_deref())
            .filter(|h| !h.is_empty())
    };
    let mut found: Vec<CommandId> = Vec::new();
    if args.len() == 2 {
        found.extend(table.all().filter(|&id| data(id).is_some()));
    } else {
        for name in args.tail(2).iter() {
            let Some(id) = table.find(name) else { continue };
            if data(id).is_some() {
                found.push(id);
            }
            found.extend(
                table
                    .subcommands(id)
                    .iter()
                    .copied()
                    .filter(|&s| data(s).is_some()),
            );
        }
    }
    ctx.out.map(found.len());
    for id in found {
        let h = data(id).expect("kept only commands with samples");
        ctx.out.bulk(table.spec(id).name.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(h.len() as i64);
        ctx.out.bulk(b"histogram_usec");
        let buckets = cdf(h);
        ctx.out.map(buckets.len());
        for (usec, n) in buckets {
            ctx.out.int(usec as i64);
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

/// Cumulative counts at 1024 ns, 2048 ns, ... (as hdr_iter_log with 1024 and base 2),
/// keyed by each level's highest equivalent value in microseconds; only levels where the
/// count grew.
fn cdf(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    let total = h.len();
    let mut out = Vec::new();
    let mut prev = 0;
    let mut level: u64 = 1024;
    while prev < total {
        let cum = h.count_between(0, level);
        if cum > prev {
            out.push((h.highest_equivalent(level) / 1000, cum));
        }
        prev = cum;
        match level.checked_mul(2) {
            Some(l) if level <= h.high() => level = l,
            _ => break,
        }
    }
    out
}

fn help(ctx: &mut Ctx, _args: Args) -> CmdResult {
    help_reply(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::TS_LEN;

    #[test]
    fn buckets_are_redis_s() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 2).unwrap();
        h.record(20_000_000).unwrap();
        h.record(10_000_000).unwrap();
        h.record(500).unwrap();
        // Redis 7.0.15 answers 16908 and 33816 for DEBUG SLEEP 0.01 and 0.02.
        assert_eq!(cdf(&h), vec![(1, 1), (16908, 2), (33816, 3)]);
    }

    #[test]
    fn graph_as_redis_draws_it() {
        let mut ts = Series {
            samples: [(0, 0); TS_LEN],
            idx: 1,
            max: 20,
        };
        ts.samples[0] = (1000, 20);
        let g = sparkline("command", &ts, 1000);
        assert_eq!(
            g,
            format!(
                "command - high 20 ms, low 20 ms (all time high 20 ms)\n{}\n \n \n \n_\n \n0\ns\n",
                "-".repeat(80)
            )
        );
    }
}
