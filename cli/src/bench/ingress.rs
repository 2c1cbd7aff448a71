//! `techpotli bench ingress`: the ingress API under load. Starts the embedded broker, the
//! registry, the catalogue and the API in-process (dev auth, rate limiting off), then drives it
//! from a separate runtime (its own thread pool) in two ways per endpoint:
//! - fixed rate (open loop, latency measured from each request's scheduled time, so a stall
//!   is not hidden by the generator waiting): p50/p99 at `--rate`;
//! - saturation (closed loop, `--connections` in flight): the highest accepted rate.
//!
//! Endpoints: `GET /hello` of the same binary (the ceiling), `POST /v1/orders` (one event per
//! request, with a Redis idempotency key) and `POST /v1/activity` (`--batch` events per
//! request). Ratios are against the hello route measured in the same run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use parking_lot::Mutex;

#[derive(Debug, Args)]
pub struct IngressBench {
    /// Requests per second of the fixed-rate phases.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    rate: u64,
    /// Seconds per phase.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=600))]
    seconds: u64,
    /// Requests in flight in the saturation phases.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    connections: u64,
    /// Requests per second of the fixed-rate activity phase (each carries `--batch` events).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    activity_rate: u64,
    /// Most requests in flight in the fixed-rate phases (a request due while the cap is
    /// reached waits; its latency still counts from when it was due).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_in_flight: u64,
    /// Events per activity request.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=500))]
    batch: u64,
    /// Redis for the API's idempotency keys (a dead Redis makes the API fail open).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
}

#[derive(Clone, Copy)]
enum Endpoint {
    Hello,
    Order,
    Activity,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Self::Hello => "GET /hello (ceiling)",
            Self::Order => "POST /v1/orders",
            Self::Activity => "POST /v1/activity",
        }
    }
}

/// The outcome of one phase.
struct Phase {
    endpoint: Endpoint,
    mode: String,
    ok: u64,
    failed: u64,
    events_per_request: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

impl Phase {
    fn req_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    fn events_per_sec(&self) -> f64 {
        self.req_per_sec() * self.events_per_request as f64
    }
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        self.latencies_us[i] as f64 / 1000.0
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

async fn call(http: &reqwest::Client, base: &str, e: Endpoint, batch: u64) -> bool {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let r = match e {
        Endpoint::Hello => http.get(format!("{base}/hello")).send().await,
        Endpoint::Order => {
            let body = serde_json::json!({"currency": "INR",
                "lines": [{"sku": format!("SKU-{}", n % 1000), "quantity": 1, "unit_price_minor": 49_900}],
                "shipping_address": {"recipient_name": "Bench", "line1": "1 MG Road", "city": "Pune",
                    "postal_code": "411001", "country_code": "IN"}});
            http.post(format!("{base}/v1/orders"))
                .header("x-dev-user", format!("bench-{}", n % 100))
                .header(
                    "idempotency-key",
                    format!("bench-{}-{n}", std::process::id()),
                )
                .json(&body)
                .send()
                .await
        }
        Endpoint::Activity => {
            let events: Vec<_> = (0..batch)
                .map(|i| serde_json::json!({"session_id": format!("s-{}", n % 500), "kind": "PRODUCT_VIEW",
                    "sku": format!("SKU-{}", (n + i) % 1000), "url": "https://shop.example/p"}))
                .collect();
            http.post(format!("{base}/v1/activity"))
                .json(&serde_json::json!({"events": events}))
                .send()
                .await
        }
    };
    r.is_ok_and(|r| r.status().is_success())
}

/// Open loop at `rate`/s for `secs`: request i is due at i/rate; latency counts from then.
async fn fixed_rate(
    http: reqwest::Client,
    base: Arc<str>,
    e: Endpoint,
    (rate, secs, batch, cap): (u64, u64, u64, u64),
) -> Phase {
    let permits = Arc::new(tokio::sync::Semaphore::new(cap as usize));
    let total = rate * secs;
    let lat = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let failed = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + Duration::from_nanos(i * 1_000_000_000 / rate);
        tokio::time::sleep_until(due).await;
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("open semaphore");
        let (http, base, lat, failed) = (http.clone(), base.clone(), lat.clone(), failed.clone());
        tasks.spawn(async move {
            let _permit = permit;
            if call(&http, &base, e, batch).await {
                lat.lock().push(due.elapsed().as_micros() as u64);
            } else {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    let mut latencies_us = std::mem::take(&mut *lat.lock());
    latencies_us.sort_unstable();
    Phase {
        endpoint: e,
        mode: format!("{rate}/s"),
        ok: latencies_us.len() as u64,
        failed: failed.load(Ordering::Relaxed),
        events_per_request: if matches!(e, Endpoint::Activity) {
            batch
        } else {
            1
        },
        elapsed,
        latencies_us,
    }
}

/// Closed loop: `conns` workers each send back to back for `secs`.
async fn saturate(
    http: reqwest::Client,
    base: Arc<str>,
    e: Endpoint,
    conns: u64,
    secs: u64,
    batch: u64,
) -> Phase {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let (http, base) = (http.clone(), base.clone());
        tasks.spawn(async move {
            let (mut lat, mut failed) = (Vec::new(), 0u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                if call(&http, &base, e, batch).await {
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    failed += 1;
                }
            }
            (lat, failed)
        });
    }
    let (mut latencies_us, mut failed) = (Vec::new(), 0);
    while let Some(Ok((l, f))) = tasks.join_next().await {
        latencies_us.extend(l);
        failed += f;
    }
    let elapsed = started.elapsed();
    latencies_us.sort_unstable();
    Phase {
        endpoint: e,
        mode: format!("max, {conns} conns"),
        ok: latencies_us.len() as u64,
        failed,
        events_per_request: if matches!(e, Endpoint::Activity) {
            batch
        } else {
            1
        },
        elapsed,
        latencies_us,
    }
}

pub fn run(b: &IngressBench) -> anyhow::Result<()> {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (broker, registry, api) = server_rt.block_on(async {
        let broker = techpotli_kafka::start(techpotli_kafka::BrokerConfig::default()).await?;
        let bootstrap = broker.bootstrap();
        techpotli_topics::apply::apply(
            &crate::topics_cmd::admin(&bootstrap)?,
            techpotli_topics::catalogue(),
            false,
        )
        .await?;
        let registry =
            techpotli_registry::start(techpotli_registry::RegistryConfig::new(bootstrap.clone()))
                .await?;
        let mut config = techpotli_api::Config::for_dev(&bootstrap, &registry.url());
        config.listen = "127.0.0.1:0".parse()?;
        config.schema_auto_register = true;
        config.hello_route = true;
        config.rate_limit_disabled = true;
        config.redis_url.clone_from(&b.redis_url);
        config.redis_prefix = format!("bench:{}:", std::process::id());
        let api = techpotli_api::start(config).await?;
        anyhow::Ok((broker, registry, api))
    })?;
    let base: Arc<str> = api.url().into();
    println!(
        "ingress bench: API {base}, embedded broker {}, {} s per phase, fixed rate {}/s, saturation with {} connections, activity batches of {}",
        broker.bootstrap(),
        b.seconds,
        b.rate,
        b.connections,
        b.batch
    );
    // The load generator: its own runtime (thread pool), its own connection pool.
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(b.connections as usize * 2)
        .timeout(Duration::from_secs(30))
        .build()?;
    let mut phases = Vec::new();
    load_rt.block_on(async {
        // Warm up: connections, schema ids, topic metadata.
        for e in [Endpoint::Hello, Endpoint::Order, Endpoint::Activity] {
            for _ in 0..50 {
                call(&http, &base, e, b.batch).await;
            }
        }
        for e in [Endpoint::Hello, Endpoint::Order, Endpoint::Activity] {
            let p = saturate(
                http.clone(),
                base.clone(),
                e,
                b.connections,
                b.seconds,
                b.batch,
            )
            .await;
            eprintln!("  done: {} {}", e.name(), p.mode);
            phases.push(p);
            let rate = if matches!(e, Endpoint::Activity) {
                b.activity_rate
            } else {
                b.rate
            };
            let p = fixed_rate(
                http.clone(),
                base.clone(),
                e,
                (rate, b.seconds, b.batch, b.max_in_flight),
            )
            .await;
            eprintln!("  done: {} {}", e.name(), p.mode);
            phases.push(p);
        }
    });
    println!(
        "\n{:<22} {:<16} {:>9} {:>7} {:>10} {:>10} {:>9} {:>9} {:>9}",
        "endpoint", "load", "ok", "failed", "req/s", "events/s", "p50 ms", "p99 ms", "max ms"
    );
    for p in &phases {
        println!(
            "{:<22} {:<16} {:>9} {:>7} {:>10.0} {:>10.0} {:>9.2} {:>9.2} {:>9.2}",
            p.endpoint.name(),
            p.mode,
            p.ok,
            p.failed,
            p.req_per_sec(),
            p.events_per_sec(),
            p.pct(0.5),
            p.pct(0.99),
            p.pct(1.0)
        );
    }
    let ceiling = phases[0].req_per_sec();
    println!("\nsaturation events/s relative to the hello-world ceiling ({ceiling:.0} req/s):");
    for p in phases.iter().step_by(2).skip(1) {
        println!(
            "  {:<22} {:.2}x",
            p.endpoint.name(),
            p.events_per_sec() / ceiling
        );
    }
    server_rt.block_on(async {
        let _ = api.shutdown().await;
        registry.shutdown().await;
        broker.shutdown().await;
    });
    let failed: u64 = phases.iter().map(|p| p.failed).sum();
    if failed > 0 {
        anyhow::bail!(
            "{failed} requests failed (errors or non-2xx answers): the numbers above are not clean"
        );
    }
    Ok(())
}
