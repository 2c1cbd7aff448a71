//! The HTTP load generator of `bench ingress` and `bench orders`, run as a second process
//! (`techpotli bench load`, hidden) so its CPU is not the server's: the parent starts it per
//! phase and reads one JSON [`Report`] from its stdout.
//!
//! Two disciplines:
//! - fixed rate (`--rate N`, open loop): request i is due at i/N s and its latency counts from
//!   then, so a stall is not hidden by the generator waiting (coordinated omission);
//! - saturation (`--rate 0`, closed loop): `--connections` workers send back to back.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::now_ms;

/// Env variable carrying the webhook secret to the child (kept off its command line).
const SECRET_ENV: &str = "TECHPOTLI_BENCH_WEBHOOK_SECRET";

/// What one request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Endpoint {
    /// `GET /hello`: the ceiling.
    Hello,
    /// `POST /v1/orders` (one event, a Redis idempotency key).
    Order,
    /// `POST /v1/orders`, then the provider's signed `payment.authorized` webhook for it.
    OrderPaid,
    /// `POST /v1/activity` with `--batch` events.
    Activity,
}

impl Endpoint {
    pub fn name(self) -> &'static str {
        match self {
            Self::Hello => "GET /hello (ceiling)",
            Self::Order => "POST /v1/orders",
            Self::OrderPaid => "order + payment webhook",
            Self::Activity => "POST /v1/activity",
        }
    }
}

/// One phase of load.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the API.
    #[arg(long)]
    pub url: String,
    #[arg(long, value_enum)]
    pub endpoint: Endpoint,
    /// Requests per second; 0 = saturation with `--connections` workers.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub connections: u64,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub seconds: u64,
    /// Events per activity request.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=500))]
    pub batch: u64,
    /// Most requests in flight at a fixed rate (a due request waits; its latency still counts
    /// from when it was due).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_in_flight: u64,
    /// Distinct SKUs ordered (`SKU-0` …).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub skus: u64,
    /// Webhook provider name (`order-paid`).
    #[arg(long, default_value = "bench")]
    pub provider: String,
}

/// What the child reports.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub ok: u64,
    pub failed: u64,
    pub elapsed_secs: f64,
    /// Sorted.
    pub latencies_us: Vec<u64>,
    /// `order-paid`: (order id, wall-clock ms when its order request was due).
    pub orders: Vec<(String, i64)>,
}

impl Report {
    pub fn req_per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed_secs
    }
    /// Latency percentile in ms (NaN without samples).
    pub fn pct(&self, p: f64) -> f64 {
        super::percentile(&self.latencies_us, p).map_or(f64::NAN, |us| us as f64 / 1000.0)
    }
}

impl LoadArgs {
    /// Runs this phase in a child process (the same executable) and returns its report.
    pub fn spawn(&self, webhook_secret: &str) -> anyhow::Result<Report> {
        let exe = std::env::current_exe()?;
        let out = Command::new(exe)
            .args(["bench", "load", "--url", &self.url, "--endpoint"])
            .arg(
                self.endpoint
                    .to_possible_value()
                    .expect("no skipped variants")
                    .get_name(),
            )
            .args(["--rate", &self.rate.to_string()])
            .args(["--connections", &self.connections.to_string()])
            .args(["--seconds", &self.seconds.to_string()])
            .args(["--batch", &self.batch.to_string()])
            .args(["--max-in-flight", &self.max_in_flight.to_string()])
            .args(["--skus", &self.skus.to_string()])
            .args(["--provider", &self.provider])
            .env(SECRET_ENV, webhook_secret)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "load generator failed: {}",
            out.status
        );
        Ok(serde_json::from_slice(&out.stdout)?)
    }
}

/// The child: runs the phase and prints the report as JSON on stdout.
pub fn run(a: &LoadArgs) -> anyhow::Result<()> {
    let secret = std::env::var(SECRET_ENV).unwrap_or_default();
    let rt = super::services_runtime()?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.connections.max(a.max_in_flight) as usize)
        .timeout(Duration::from_secs(30))
        .build()?;
    let generator = Arc::new(Generator {
        http,
        args: a.clone(),
        secret,
        seq: AtomicU64::new(0),
        orders: Mutex::new(Vec::new()),
    });
    let report = rt.block_on(async {
        if a.rate == 0 {
            saturate(generator).await
        } else {
            fixed_rate(generator).await
        }
    });
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

struct Generator {
    http: reqwest::Client,
    args: LoadArgs,
    secret: String,
    seq: AtomicU64,
    orders: Mutex<Vec<(String, i64)>>,
}

impl Generator {
    /// The order body, formatted directly: building a `serde_json::Value` per request cost the
    /// generator more CPU than the server's own parsing, CPU the server then lacked.
    fn order_body(&self, n: u64) -> String {
        format!(
            r#"{{"currency":"INR","lines":[{{"sku":"SKU-{}","quantity":1,"unit_price_minor":{}}}],"shipping_address":{{"recipient_name":"Bench","line1":"1 MG Road","city":"Pune","postal_code":"411001","country_code":"IN"}}}}"#,
            n % self.args.skus,
            super::orders::LIST_PRICE
        )
    }

    /// Places order `n`: the 202 answer, or `None` on an error or another status.
    async fn place(&self, n: u64) -> Option<reqwest::Response> {
        self.http
            .post(format!("{}/v1/orders", self.args.url))
            .header("x-dev-user", format!("bench-{}", n % 100))
            .header("x-dev-roles", "customer")
            .header(
                "idempotency-key",
                format!("bench-{}-{n}", std::process::id()),
            )
            .header("content-type", "application/json")
            .body(self.order_body(n))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
    }

    async fn pay(&self, order: &serde_json::Value) -> bool {
        let body = serde_json::json!({"type": "payment.authorized", "order_id": order["order_id"],
            "provider_reference": format!("pay-{}", order["order_id"].as_str().unwrap_or("")),
            "amount_minor": order["total_minor"], "currency": "INR"});
        let raw = serde_json::to_vec(&body).unwrap_or_default();
        let sig = techpotli_api::webhook::sign(self.secret.as_bytes(), now_ms() / 1000, &raw);
        self.http
            .post(format!(
                "{}/v1/webhooks/payments/{}",
                self.args.url, self.args.provider
            ))
            .header("content-type", "application/json")
            .header(techpotli_api::webhook::SIGNATURE_HEADER, sig)
            .body(raw)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// One request (two for `order-paid`); `due_ms` is when it was due.
    async fn call(&self, due_ms: i64) -> bool {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let a = &self.args;
        let r = match a.endpoint {
            Endpoint::Hello => self.http.get(format!("{}/hello", a.url)).send().await,
            // The answer is not parsed: the generator's CPU is the server's loss.
            Endpoint::Order => return self.place(n).await.is_some(),
            Endpoint::OrderPaid => {
                let Some(r) = self.place(n).await else {
                    return false;
                };
                let Ok(order) = r.json::<serde_json::Value>().await else {
                    return false;
                };
                if let Some(id) = order["order_id"].as_str() {
                    self.orders.lock().push((id.to_owned(), due_ms));
                }
                return self.pay(&order).await;
            }
            Endpoint::Activity => {
                let events: Vec<_> = (0..a.batch)
                    .map(|i| serde_json::json!({"session_id": format!("s-{}", n % 500), "kind": "PRODUCT_VIEW",
                        "sku": format!("SKU-{}", (n + i) % a.skus), "url": "https://shop.example/p"}))
                    .collect();
                self.http
                    .post(format!("{}/v1/activity", a.url))
                    .json(&serde_json::json!({"events": events}))
                    .send()
                    .await
            }
        };
        r.is_ok_and(|r| r.status().is_success())
    }

    fn report(&self, mut latencies_us: Vec<u64>, failed: u64, elapsed: Duration) -> Report {
        latencies_us.sort_unstable();
        Report {
            ok: latencies_us.len() as u64,
            failed,
            elapsed_secs: elapsed.as_secs_f64(),
            latencies_us,
            orders: std::mem::take(&mut *self.orders.lock()),
        }
    }
}

async fn fixed_rate(g: Arc<Generator>) -> Report {
    let (rate, secs) = (g.args.rate, g.args.seconds);
    let permits = Arc::new(tokio::sync::Semaphore::new(g.args.max_in_flight as usize));
    let total = rate * secs;
    let lat = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let failed = Arc::new(AtomicU64::new(0));
    let (start, wall0) = (tokio::time::Instant::now(), now_ms());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let offset = Duration::from_nanos(i * 1_000_000_000 / rate);
        let due = start + offset;
        tokio::time::sleep_until(due).await;
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("open semaphore");
        let (g, lat, failed) = (g.clone(), lat.clone(), failed.clone());
        let due_ms = wall0 + offset.as_millis() as i64;
        tasks.spawn(async move {
            let _permit = permit;
            if g.call(due_ms).await {
                lat.lock().push(due.elapsed().as_micros() as u64);
            } else {
                failed.fetch_add(1, Ordering::Relaxed);
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let latencies = std::mem::take(&mut *lat.lock());
    g.report(latencies, failed.load(Ordering::Relaxed), start.elapsed())
}

async fn saturate(g: Arc<Generator>) -> Report {
    let deadline = Instant::now() + Duration::from_secs(g.args.seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..g.args.connections {
        let g = g.clone();
        tasks.spawn(async move {
            let (mut lat, mut failed) = (Vec::new(), 0u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                if g.call(now_ms()).await {
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    failed += 1;
                }
            }
            (lat, failed)
        });
    }
    let (mut latencies, mut failed) = (Vec::new(), 0);
    while let Some(Ok((l, f))) = tasks.join_next().await {
        latencies.extend(l);
        failed += f;
    }
    g.report(latencies, failed, started.elapsed())
}
