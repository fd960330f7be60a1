//! redis-rs against fred on one load: `tasks` concurrent tasks sharing one client (one
//! multiplexed connection for redis-rs; fred's client, one connection, its automatic
//! pipelining on), each sending SET (then GET) one after another, `requests` in all.
//! Rounds alternate which client goes first; medians and fred/redis-rs ratios at the end.
//!
//!   transports ADDR [--tasks T ...] [--requests N] [--rounds R] [--value-size B]

use std::sync::Arc;
use std::time::Instant;

use fred::prelude::{Builder, Client, ClientLike, Config, KeysInterface};

struct Opts {
    addr: String,
    tasks: Vec<usize>,
    requests: usize,
    rounds: usize,
    value_size: usize,
    keys: usize,
}

fn parse() -> Opts {
    let mut args = std::env::args().skip(1);
    let mut o = Opts {
        addr: args.next().expect("usage: transports HOST:PORT [options]"),
        tasks: vec![1, 50],
        requests: 200_000,
        rounds: 3,
        value_size: 32,
        keys: 100_000,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        let n = || {
            value
                .parse::<usize>()
                .unwrap_or_else(|_| panic!("{flag} {value}"))
        };
        match flag.as_str() {
            "--tasks" => {
                o.tasks = value
                    .split(',')
                    .map(|t| t.parse().expect("--tasks 1,50"))
                    .collect()
            }
            "--requests" => o.requests = n(),
            "--rounds" => o.rounds = n(),
            "--value-size" => o.value_size = n(),
            "--keys" => o.keys = n(),
            _ => panic!("unknown option {flag}"),
        }
    }
    o
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Set,
    Get,
}

/// One client under test.
#[derive(Clone)]
enum Under {
    RedisRs(redis::aio::MultiplexedConnection),
    Fred(Client),
}

impl Under {
    async fn call(&mut self, op: Op, key: String, value: &bytes::Bytes) {
        match (self, op) {
            (Under::RedisRs(c), Op::Set) => {
                let _: () = redis::cmd("SET")
                    .arg(&key)
                    .arg(value.as_ref())
                    .query_async(c)
                    .await
                    .expect("redis-rs SET");
            }
            (Under::RedisRs(c), Op::Get) => {
                let v: Option<bytes::Bytes> = redis::cmd("GET")
                    .arg(&key)
                    .query_async(c)
                    .await
                    .expect("redis-rs GET");
                assert!(v.is_some(), "{key} missing");
            }
            (Under::Fred(c), Op::Set) => {
                let _: () = c
                    .set(key, value.clone(), None, None, false)
                    .await
                    .expect("fred SET");
            }
            (Under::Fred(c), Op::Get) => {
                let v: Option<bytes::Bytes> = c.get(&key).await.expect("fred GET");
                assert!(v.is_some(), "{key} missing");
            }
        }
    }
}

/// Requests per second of `op` with `tasks` concurrent tasks on `client`.
async fn pass(client: &Under, op: Op, tasks: usize, o: &Opts) -> f64 {
    let value = bytes::Bytes::from(vec![b'x'; o.value_size]);
    let per_task = o.requests / tasks;
    let keys = o.keys;
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (mut c, value) = (client.clone(), value.clone());
            tokio::spawn(async move {
                for i in 0..per_task {
                    let k = (t * per_task + i) % keys;
                    c.call(op, format!("key:{k:08}"), &value).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("a task failed");
    }
    (per_task * tasks) as f64 / start.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let o = Arc::new(parse());
    let redis_rs = redis::Client::open(format!("redis://{}", o.addr))
        .expect("address")
        .get_multiplexed_async_connection()
        .await
        .expect("redis-rs connects");
    let fred =
        Builder::from_config(Config::from_url(&format!("redis://{}", o.addr)).expect("address"))
            .build()
            .expect("fred client");
    fred.init().await.expect("fred connects");
    let clients = [Under::RedisRs(redis_rs), Under::Fred(fred)];
    println!(
        "{} requests per pass, {}-byte values, {} keys, {} round(s), one connection per client",
        o.requests, o.value_size, o.keys, o.rounds
    );
    println!(
        "{:<6} {:>5} {:>14} {:>14} {:>11}",
        "op", "tasks", "redis-rs op/s", "fred op/s", "fred/rs"
    );
    for &tasks in &o.tasks {
        for op in [Op::Set, Op::Get] {
            let mut rates = [Vec::new(), Vec::new()];
            for round in 0..o.rounds {
                let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for i in order {
                    rates[i].push(pass(&clients[i], op, tasks, &o).await);
                }
            }
            let (a, b) = (median(&mut rates[0]), median(&mut rates[1]));
            println!(
                "{:<6} {:>5} {:>14.0} {:>14.0} {:>11.2}",
                if op == Op::Set { "SET" } else { "GET" },
                tasks,
                a,
                b,
                b / a
            );
        }
    }
}
