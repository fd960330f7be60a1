//! A small product service in front of a real SQLite database, using cairn-client's
//! `get_or_load` (read-through) and write-through, and a load driver that shows what the
//! cache buys.
//!
//! ```text
//! app bench --redis redis://127.0.0.1:6379 [--seconds 5] [--workers 32] [--keys 20000]
//!           [--zipf 1.0] [--write-pct 1] [--db-latency-us 500] [--db-conns 4]
//! ```
//!
//! It runs the same Zipf load three times — no cache, cache, cache + near cache — and
//! prints database queries per second and p50/p99 latency for each; then it hammers one
//! hot key with a short TTL, single-flight off and on, and prints the database calls for
//! that key per expiry.
//!
//! `--db-latency-us` adds a sleep to every query, standing in for the network and the
//! query time of a database that is not in-process (SQLite answers a primary-key lookup in
//! microseconds, so without it the database would look free and a stampede would end
//! before it began).

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use cairn_client::{
    CacheClient, ClientOptions, LoadOptions, NearOptions, Source, SourceError, WriteMode,
    WriteThrough,
};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// The database
// ---------------------------------------------------------------------------------------

/// SQLite behind a small pool of connections; every query counted.
struct Db {
    pool: std::sync::Mutex<Vec<rusqlite::Connection>>,
    available: tokio::sync::Semaphore,
    latency: Duration,
    queries: AtomicU64,
    /// Queries for the stampede's hot key.
    hot_queries: AtomicU64,
}

const HOT_ID: i64 = 0;

impl Db {
    fn create(path: &std::path::Path, rows: i64, conns: usize, latency: Duration) -> Result<Db> {
        let _ = std::fs::remove_file(path);
        let c = rusqlite::Connection::open(path)?;
        c.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE product (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                                   price_cents INTEGER NOT NULL, description TEXT NOT NULL);",
        )?;
        let tx = c.unchecked_transaction()?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO product (id, name, price_cents, description) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for id in 0..rows {
                ins.execute(rusqlite::params![
                    id,
                    format!("product {id}"),
                    100 + id % 9900,
                    "x".repeat(200)
                ])?;
            }
        }
        tx.commit()?;
        let mut pool = Vec::new();
        for _ in 0..conns {
            pool.push(rusqlite::Connection::open(path)?);
        }
        Ok(Db {
            pool: std::sync::Mutex::new(pool),
            available: tokio::sync::Semaphore::new(conns),
            latency,
            queries: AtomicU64::new(0),
            hot_queries: AtomicU64::new(0),
        })
    }

    /// Runs `f` on a pooled connection in the blocking pool.
    async fn with_conn<T: Send + 'static>(
        self: &Arc<Self>,
        id: i64,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, SourceError> {
        let _permit = self.available.acquire().await?;
        self.queries.fetch_add(1, Ordering::Relaxed);
        if id == HOT_ID {
            self.hot_queries.fetch_add(1, Ordering::Relaxed);
        }
        let db = self.clone();
        let out = tokio::task::spawn_blocking(move || {
            let conn = db
                .pool
                .lock()
                .unwrap()
                .pop()
                .expect("a permit means a connection");
            if !db.latency.is_zero() {
                std::thread::sleep(db.latency);
            }
            let r = f(&conn);
            db.pool.lock().unwrap().push(conn);
            r
        })
        .await?;
        Ok(out?)
    }
}

fn id_of(key: &[u8]) -> Result<i64, SourceError> {
    let s = std::str::from_utf8(key)?;
    Ok(s.strip_prefix("product:")
        .ok_or("not a product key")?
        .parse()?)
}

/// The source of truth, as the cache library sees it: rows serialized as `name|price|desc`.
struct Products(Arc<Db>);

impl Source for Products {
    async fn load(&self, key: &[u8]) -> Result<Option<Bytes>, SourceError> {
        let id = id_of(key)?;
        self.0
            .with_conn(id, move |c| {
                let mut st = c.prepare_cached(
                    "SELECT name, price_cents, description FROM product WHERE id = ?1",
                )?;
                let mut rows = st.query([id])?;
                Ok(match rows.next()? {
                    Some(r) => {
                        let (name, price, desc): (String, i64, String) =
                            (r.get(0)?, r.get(1)?, r.get(2)?);
                        Some(Bytes::from(format!("{name}|{price}|{desc}")))
                    }
                    None => None,
                })
            })
            .await
    }

    async fn store(&self, key: &[u8], value: &[u8]) -> Result<(), SourceError> {
        let id = id_of(key)?;
        let text = String::from_utf8(value.to_vec())?;
        let price: i64 = text.split('|').nth(1).ok_or("no price")?.parse()?;
        self.0
            .with_conn(id, move |c| {
                c.execute(
                    "UPDATE product SET price_cents = ?1 WHERE id = ?2",
                    rusqlite::params![price, id],
                )
                .map(|_| ())
            })
            .await
    }

    async fn remove(&self, key: &[u8]) -> Result<(), SourceError> {
        let id = id_of(key)?;
        self.0
            .with_conn(id, move |c| {
                c.execute("DELETE FROM product WHERE id = ?1", [id])
                    .map(|_| ())
            })
            .await
    }
}

// ---------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------

/// The product service: reads through the cache, writes through it (delete variant), or
/// goes straight to the database when built without a cache.
enum ProductService {
    Direct(Arc<Products>),
    Cached(WriteThrough<Products>),
}

impl ProductService {
    async fn product(&self, id: i64) -> Result<Option<Bytes>> {
        let key = format!("product:{id}");
        Ok(match self {
            ProductService::Direct(p) => p.load(key.as_bytes()).await.map_err(anyhow_src)?,
            ProductService::Cached(wt) => wt.get(key).await?,
        })
    }

    async fn set_price(&self, id: i64, price: i64) -> Result<()> {
        let key = format!("product:{id}");
        let value = Bytes::from(format!("product {id}|{price}|"));
        match self {
            ProductService::Direct(p) => {
                p.store(key.as_bytes(), &value).await.map_err(anyhow_src)?
            }
            ProductService::Cached(wt) => wt.put(key, value).await?,
        }
        Ok(())
    }
}

fn anyhow_src(e: SourceError) -> anyhow::Error {
    anyhow::anyhow!(e)
}

// ---------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------

/// Zipf(s) over 0..n by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n);
        let mut sum = 0.0;
        for i in 1..=n {
            sum += 1.0 / (i as f64).powf(s);
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut fastrand::Rng) -> usize {
        let u = rng.f64();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

struct Args {
    redis: String,
    seconds: u64,
    workers: usize,
    keys: usize,
    zipf: f64,
    write_pct: u32,
    db_latency: Duration,
    db_conns: usize,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        redis: "redis://127.0.0.1:6379".into(),
        seconds: 5,
        workers: 32,
        keys: 20_000,
        zipf: 1.0,
        write_pct: 1,
        db_latency: Duration::from_micros(500),
        db_conns: 4,
    };
    let mut it = std::env::args().skip(1);
    match it.next().as_deref() {
        Some("bench") => {}
        _ => bail!(
            "usage: app bench --redis URL [--seconds N] [--workers N] [--keys N] [--zipf S] [--write-pct P] [--db-latency-us U] [--db-conns N]"
        ),
    }
    while let Some(flag) = it.next() {
        let v = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--redis" => a.redis = v,
            "--seconds" => a.seconds = v.parse()?,
            "--workers" => a.workers = v.parse()?,
            "--keys" => a.keys = v.parse()?,
            "--zipf" => a.zipf = v.parse()?,
            "--write-pct" => a.write_pct = v.parse()?,
            "--db-latency-us" => a.db_latency = Duration::from_micros(v.parse()?),
            "--db-conns" => a.db_conns = v.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(a)
}

struct Outcome {
    ops: u64,
    db_queries: u64,
    hist: Histogram<u64>,
    l1_hits: u64,
    errors: u64,
}

async fn drive(service: Arc<ProductService>, db: &Arc<Db>, args: &Args) -> Result<Outcome> {
    let zipf = Arc::new(Zipf::new(args.keys, args.zipf));
    let start_queries = db.queries.load(Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for w in 0..args.workers {
        let (service, zipf) = (service.clone(), zipf.clone());
        let write_pct = args.write_pct;
        tasks.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(w as u64 + 1);
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let (mut ops, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                // key 0 is the stampede's; the Zipf load uses 1..=keys
                let id = zipf.sample(&mut rng) as i64 + 1;
                let t = Instant::now();
                let r = if rng.u32(0..100) < write_pct {
                    service.set_price(id, rng.i64(100..10_000)).await
                } else {
                    service.product(id).await.map(|_| ())
                };
                if r.is_err() {
                    errors += 1;
                }
                hist.record(t.elapsed().as_micros().max(1) as u64).unwrap();
                ops += 1;
            }
            (ops, errors, hist)
        }));
    }
    let mut out = Outcome {
        ops: 0,
        db_queries: 0,
        hist: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        l1_hits: 0,
        errors: 0,
    };
    for t in tasks {
        let (ops, errors, hist) = t.await?;
        out.ops += ops;
        out.errors += errors;
        out.hist.add(hist)?;
    }
    out.db_queries = db.queries.load(Ordering::Relaxed) - start_queries;
    Ok(out)
}

async fn client(args: &Args, near: bool) -> Result<CacheClient> {
    let mut o = ClientOptions::standalone(&args.redis).connections_per_node(2);
    if near {
        o = o.near_cache(NearOptions::for_prefixes(["product:"]).bounded(
            10_000,
            64 << 20,
            Duration::from_secs(60),
        ));
    }
    Ok(CacheClient::connect(o).await?)
}

async fn flushall(url: &str) -> Result<()> {
    let mut c = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await?;
    Ok(())
}

/// One hot key with a short TTL hammered by every worker; database calls for it per expiry.
async fn stampede(db: &Arc<Db>, args: &Args, single_flight: bool) -> Result<(u64, f64)> {
    flushall(&args.redis).await?;
    let cache = client(args, false).await?;
    let products = Arc::new(Products(db.clone()));
    let ttl = Duration::from_millis(250);
    let opts = LoadOptions::new(ttl)
        .ttl_jitter(0.0)
        .single_flight(single_flight)
        // the unprotected baseline is the textbook cache-aside: read, load, SET
        .guarded_fill(single_flight);
    let before = db.hot_queries.load(Ordering::Relaxed);
    let seconds = args.seconds.min(3);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..args.workers * 2 {
        let (cache, products, opts) = (cache.clone(), products.clone(), opts.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let p = products.clone();
                let _ = cache
                    .get_or_load(format!("product:{HOT_ID}"), &opts, move || async move {
                        p.load(format!("product:{HOT_ID}").as_bytes()).await
                    })
                    .await;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let calls = db.hot_queries.load(Ordering::Relaxed) - before;
    let expiries = (seconds as f64 * 1000.0 / ttl.as_millis() as f64).max(1.0);
    Ok((calls, calls as f64 / expiries))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let dir = std::env::temp_dir().join(format!("cairn-app-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = Arc::new(Db::create(
        &dir.join("products.db"),
        args.keys as i64 + 1,
        args.db_conns,
        args.db_latency,
    )?);
    println!(
        "SQLite: {} products, {} connections, {} µs added per query; load: {} workers, \
         Zipf s={} over {} keys, {}% writes, {} s per run",
        args.keys,
        args.db_conns,
        args.db_latency.as_micros(),
        args.workers,
        args.zipf,
        args.keys,
        args.write_pct,
        args.seconds
    );
    println!();
    println!(
        "{:<20} {:>10} {:>12} {:>10} {:>10} {:>10}",
        "mode", "ops/s", "db queries/s", "p50 µs", "p99 µs", "L1 hits"
    );
    let products = Arc::new(Products(db.clone()));
    let load = LoadOptions::new(Duration::from_secs(300));
    for mode in ["no cache", "cache", "cache + near cache"] {
        flushall(&args.redis).await?;
        let (service, cache) = match mode {
            "no cache" => (ProductService::Direct(products.clone()), None),
            m => {
                let c = client(&args, m.contains("near")).await?;
                let wt = WriteThrough::new(
                    c.clone(),
                    products.clone(),
                    load.clone(),
                    WriteMode::Invalidate,
                );
                (ProductService::Cached(wt), Some(c))
            }
        };
        let mut out = drive(Arc::new(service), &db, &args).await?;
        if let Some(c) = &cache {
            out.l1_hits = c.stats().near.hits;
        }
        let secs = args.seconds as f64;
        println!(
            "{:<20} {:>10.0} {:>12.0} {:>10} {:>10} {:>10}{}",
            mode,
            out.ops as f64 / secs,
            out.db_queries as f64 / secs,
            out.hist.value_at_quantile(0.5),
            out.hist.value_at_quantile(0.99),
            out.l1_hits,
            if out.errors > 0 {
                format!("  ({} errors)", out.errors)
            } else {
                String::new()
            }
        );
    }
    println!();
    println!(
        "stampede: one key, TTL 250 ms, {} callers in a loop",
        args.workers * 2
    );
    println!(
        "{:<20} {:>12} {:>22}",
        "single-flight", "db calls", "db calls per expiry"
    );
    for on in [false, true] {
        let (calls, per) = stampede(&db, &args, on).await?;
        println!(
            "{:<20} {:>12} {:>22.1}",
            if on { "on" } else { "off" },
            calls,
            per
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
