//! Benchmarks. Each prints its numbers and ratios against a baseline measured in the same run,
//! never against constants, so results are comparable across machines.

mod broker;
mod ingress;
mod kafka_streams;
mod latency;
mod load;
mod orders;
mod pricing;
mod runtime;

pub use broker::BrokerBench;
pub use runtime::RuntimeBench;

use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Produce, consume and transactionally copy records through a broker.
    Broker(broker::BrokerBench),
    /// Load the ingress API's write endpoints beside a hello-world route of the same binary.
    Ingress(ingress::IngressBench),
    /// Raw consume → produce pass-through against the runtime's exactly-once pass-through
    /// with a state store.
    Runtime(runtime::RuntimeBench),
    /// Orders at a fixed rate through the inventory and order-saga processors: throughput and
    /// placed → confirmed latency.
    Orders(orders::OrdersBench),
    /// Price rule changes through the pricing processor: price changes/s and carts
    /// re-priced/s against the runtime pass-through.
    Pricing(pricing::PricingBench),
    /// The HTTP load generator the ingress and orders benchmarks run as a second process.
    #[command(hide = true)]
    Load(load::LoadArgs),
}

pub fn run(cmd: BenchCommand, bootstrap: &str) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Broker(b) => broker::run(&b, bootstrap),
        BenchCommand::Ingress(b) => ingress::run(&b),
        BenchCommand::Runtime(b) => runtime::run(&b, bootstrap),
        BenchCommand::Orders(b) => orders::run(&b),
        BenchCommand::Pricing(b) => pricing::run(&b),
        BenchCommand::Load(a) => load::run(&a),
    }
}

/// Milliseconds since the Unix epoch, now (record and request times).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The `p` quantile (0..=1, nearest rank) of `sorted`, or `None` when it is empty.
pub(crate) fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get((last as f64 * p).round() as usize).copied()
}

/// Deletes every Redis key under `prefix` (a bench's idempotency keys and sink hashes: left
/// behind, hundreds of thousands of them slow every `KEYS`/`SCAN` of the shared server).
pub(crate) async fn delete_keys(redis_url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url) else {
        return;
    };
    let Ok(mut con) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let mut cursor = 0u64;
    loop {
        let page: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut con)
            .await;
        let Ok((next, keys)) = page else { return };
        if !keys.is_empty() {
            let _: redis::RedisResult<()> =
                redis::cmd("DEL").arg(&keys).query_async(&mut con).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// The async runtime a benchmark runs its embedded services (or the load generator) on.
pub fn services_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// The broker a benchmark measures: an embedded one started on `rt`, or the cluster at
/// `--bootstrap` with `--external`.
pub struct BenchBroker {
    pub bootstrap: String,
    embedded: Option<techpotli_kafka::BrokerHandle>,
}

impl BenchBroker {
    pub fn start(
        rt: &tokio::runtime::Runtime,
        external: Option<&str>,
        config: techpotli_kafka::BrokerConfig,
    ) -> anyhow::Result<Self> {
        if let Some(b) = external {
            return Ok(Self {
                bootstrap: b.to_owned(),
                embedded: None,
            });
        }
        let h = rt.block_on(techpotli_kafka::start(config))?;
        Ok(Self {
            bootstrap: h.bootstrap(),
            embedded: Some(h),
        })
    }

    /// "embedded at …" or the external bootstrap.
    pub fn describe(&self) -> String {
        if self.embedded.is_some() {
            format!("embedded at {}", self.bootstrap)
        } else {
            self.bootstrap.clone()
        }
    }

    pub fn stop(self, rt: &tokio::runtime::Runtime) {
        if let Some(h) = self.embedded {
            rt.block_on(h.shutdown());
        }
    }
}

/// A progress bar counting records.
pub fn records_bar(label: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>22} [{bar:40}] {human_pos}/{human_len} ({per_sec})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// One measured phase.
pub struct Measured {
    pub name: &'static str,
    pub records: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Measured {
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1_000_000.0 / self.elapsed.as_secs_f64()
    }
}

pub fn print_table(rows: &[Measured]) {
    println!(
        "\n{:<34} {:>12} {:>10} {:>12} {:>10}",
        "phase", "records", "seconds", "records/s", "MB/s"
    );
    for r in rows {
        println!(
            "{:<34} {:>12} {:>10.2} {:>12.0} {:>10.1}",
            r.name,
            r.records,
            r.elapsed.as_secs_f64(),
            r.records_per_sec(),
            r.mb_per_sec()
        );
    }
}
