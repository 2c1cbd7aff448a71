//! `techpotli bench ingress`: the ingress API under load. Starts the embedded broker, the
//! registry, the catalogue and the API in-process (dev auth, rate limiting off), then drives it
//! from a second process ([`super::load`]) in two ways per endpoint:
//! - fixed rate (open loop, latency measured from each request's scheduled time, so a stall
//!   is not hidden by the generator waiting): p50/p99 at `--rate`;
//! - saturation (closed loop, `--connections` in flight): the highest accepted rate.
//!
//! Endpoints: `GET /hello` of the same binary (the ceiling), `POST /v1/orders` (one event per
//! request, with a Redis idempotency key) and `POST /v1/activity` (`--batch` events per
//! request). Ratios are against the hello route measured in the same run.

use clap::{Args, ValueEnum};

use super::load::{Endpoint, LoadArgs, Report};

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
    /// Endpoints measured besides the hello ceiling (always measured first).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "order,activity"
    )]
    endpoints: Vec<Measured>,
    /// Redis for the API's idempotency keys (a dead Redis makes the API fail open).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
}

/// An endpoint measured against the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Measured {
    Order,
    Activity,
}

impl Measured {
    fn endpoint(self) -> Endpoint {
        match self {
            Self::Order => Endpoint::Order,
            Self::Activity => Endpoint::Activity,
        }
    }
}

/// The outcome of one phase.
struct Phase {
    endpoint: Endpoint,
    mode: String,
    events_per_request: u64,
    report: Report,
}

impl Phase {
    fn events_per_sec(&self) -> f64 {
        self.report.req_per_sec() * self.events_per_request as f64
    }
}

/// SKUs the order phases spread over (each priced at [`super::orders::LIST_PRICE`]).
const SKUS: u64 = 1000;

pub fn run(b: &IngressBench) -> anyhow::Result<()> {
    // The API's idempotency keys, deleted at the end.
    let redis_prefix = format!("bench:{}:", std::process::id());
    let server_rt = super::services_runtime()?;
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
        config.redis_prefix.clone_from(&redis_prefix);
        // No pricing processor or sinks here: the bench writes the price read model itself.
        config.read_redis_prefix.clone_from(&redis_prefix);
        super::orders::write_price_hashes(&b.redis_url, &redis_prefix, SKUS).await?;
        let api = techpotli_api::start(config).await?;
        anyhow::Ok((broker, registry, api))
    })?;
    let base = api.url();
    println!(
        "ingress bench: API {base}, embedded broker {}, {} s per phase, fixed rate {}/s, saturation with {} connections, activity batches of {}; load from a second process",
        broker.bootstrap(),
        b.seconds,
        b.rate,
        b.connections,
        b.batch
    );
    let mut endpoints = vec![Endpoint::Hello];
    for e in b.endpoints.iter().map(|e| e.endpoint()) {
        if !endpoints.contains(&e) {
            endpoints.push(e);
        }
    }
    let phase = |endpoint, rate, seconds| LoadArgs {
        url: base.clone(),
        endpoint,
        rate,
        connections: b.connections,
        seconds,
        batch: b.batch,
        max_in_flight: b.max_in_flight,
        skus: SKUS,
        provider: "bench".into(),
    };
    // Warm up: connections, schema ids, topic metadata.
    for &e in &endpoints {
        phase(e, 100, 1).spawn("")?;
    }
    let mut phases = Vec::new();
    for &e in &endpoints {
        let fixed = if e == Endpoint::Activity {
            b.activity_rate
        } else {
            b.rate
        };
        for (rate, mode) in [
            (0, format!("max, {} conns", b.connections)),
            (fixed, format!("{fixed}/s")),
        ] {
            let report = phase(e, rate, b.seconds).spawn("")?;
            eprintln!("  done: {} {mode}", e.name());
            phases.push(Phase {
                endpoint: e,
                mode,
                events_per_request: if e == Endpoint::Activity { b.batch } else { 1 },
                report,
            });
        }
    }
    println!(
        "\n{:<22} {:<16} {:>9} {:>7} {:>10} {:>10} {:>9} {:>9} {:>9}",
        "endpoint", "load", "ok", "failed", "req/s", "events/s", "p50 ms", "p99 ms", "max ms"
    );
    for p in &phases {
        let r = &p.report;
        println!(
            "{:<22} {:<16} {:>9} {:>7} {:>10.0} {:>10.0} {:>9.2} {:>9.2} {:>9.2}",
            p.endpoint.name(),
            p.mode,
            r.ok,
            r.failed,
            r.req_per_sec(),
            p.events_per_sec(),
            r.pct(0.5),
            r.pct(0.99),
            r.pct(1.0)
        );
    }
    let ceiling = phases[0].report.req_per_sec();
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
        super::delete_keys(&b.redis_url, &redis_prefix).await;
        registry.shutdown().await;
        broker.shutdown().await;
    });
    let failed: u64 = phases.iter().map(|p| p.report.failed).sum();
    if failed > 0 {
        anyhow::bail!(
            "{failed} requests failed (errors or non-2xx answers): the numbers above are not clean"
        );
    }
    Ok(())
}
