//! `techpotli-broker`: the embedded Kafka-protocol broker as a standalone process.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use techpotli_kafka::{BrokerConfig, FsyncPolicy};

/// Single-node Kafka-protocol broker with transactions (dev and test default).
#[derive(Debug, Parser)]
#[command(name = "techpotli-broker", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "TECHPOTLI_BROKER_LISTEN",
        default_value = "127.0.0.1:9092"
    )]
    listen: SocketAddr,
    /// Host name advertised to clients in Metadata (default: the listen IP).
    #[arg(long, env = "TECHPOTLI_BROKER_ADVERTISED_HOST")]
    advertised_host: Option<String>,
    /// Keep data here across restarts; without it everything is in memory.
    #[arg(long, env = "TECHPOTLI_BROKER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// When to fsync appended data.
    #[arg(
        long,
        env = "TECHPOTLI_BROKER_FSYNC",
        value_enum,
        default_value = "never"
    )]
    fsync: FsyncPolicy,
    /// Serve Prometheus metrics on this address.
    #[arg(long, env = "TECHPOTLI_BROKER_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Kafka's num.partitions for auto-created topics.
    #[arg(long, env = "TECHPOTLI_BROKER_DEFAULT_PARTITIONS", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..))]
    default_partitions: i32,
    /// Refuse to create topics implicitly (Kafka's auto.create.topics.enable=false).
    #[arg(long, env = "TECHPOTLI_BROKER_NO_AUTO_CREATE")]
    no_auto_create: bool,
    /// How often expired segments are deleted (Kafka's log.retention.check.interval.ms).
    #[arg(long, env = "TECHPOTLI_BROKER_LOG_RETENTION_CHECK_INTERVAL_MS", default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(1..))]
    log_retention_check_interval_ms: u64,
}

fn init_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}

/// mimalloc: glibc malloc cost the services a fifth of their CPU under load (README "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_logging();
    if let Some(addr) = args.metrics_listen {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            // Histograms (not summaries) so dashboards can aggregate quantiles.
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("broker_request_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                ],
            )
            .map_err(|e| anyhow::anyhow!("metrics buckets: {e}"))?
            .install()
            .map_err(|e| anyhow::anyhow!("cannot serve metrics on {addr}: {e}"))?;
    }
    let config = BrokerConfig {
        listen: args.listen,
        advertised_host: args.advertised_host,
        data_dir: args.data_dir,
        fsync: args.fsync,
        metrics_listen: args.metrics_listen,
        default_partitions: args.default_partitions,
        auto_create_topics: !args.no_auto_create,
        retention_check_interval: std::time::Duration::from_millis(
            args.log_retention_check_interval_ms,
        ),
        ..BrokerConfig::default()
    };
    // Handlers first: a supervisor that signals as soon as it reads the listening line must
    // get a clean shutdown, not the default action (seen as exit -2 under load).
    let (mut term, mut int) = (
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?,
    );
    let handle = techpotli_kafka::start(config).await?;
    println!("techpotli-broker listening on {}", handle.addr());
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}
