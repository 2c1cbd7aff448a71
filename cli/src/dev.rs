//! `techpotli dev`: the whole pipeline on one machine, in one process — the embedded broker
//! (data under `./.techpotli/`), the schema registry, the topic catalogue applied, every schema
//! registered — then every component that exists: the processors (`dev_processors.rs`) and
//! the ingress API on `127.0.0.1:8080` (with `--insecure-dev-auth`). Stops cleanly on Ctrl-C /
//! SIGTERM: the API drains, processors commit their last batch first.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{schemas_cmd, topics_cmd};

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Where the broker keeps its data.
    #[arg(long, env = "TECHPOTLI_DATA_DIR", default_value = ".techpotli")]
    data_dir: PathBuf,
    /// Kafka listener of the embedded broker (port 0 picks a free one).
    #[arg(long, env = "TECHPOTLI_KAFKA_LISTEN", default_value = "127.0.0.1:9092")]
    kafka_listen: SocketAddr,
    /// Listener of the embedded schema registry.
    #[arg(
        long,
        env = "TECHPOTLI_REGISTRY_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    registry_listen: SocketAddr,
    /// Listener of the ingress API (dev auth: no tokens are checked).
    #[arg(long, env = "API_LISTEN", default_value = "127.0.0.1:8080")]
    api_listen: SocketAddr,
    /// MariaDB/MySQL the sinks will use.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = techpotli_connector_mysql::settings::DEFAULT_DATABASE_URL
    )]
    database_url: String,
    /// Redis the sinks and the API will use.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Prefix of the Redis sink's keys (and where the API reads them).
    #[arg(long, env = "TECHPOTLI_REDIS_KEY_PREFIX", default_value = "")]
    redis_prefix: String,
    /// `/healthz`, `/readyz`, `/metrics` of the processors (port 0 picks a free one).
    #[arg(long, env = "TECHPOTLI_ADMIN_LISTEN", default_value = "127.0.0.1:9100")]
    admin_listen: SocketAddr,
    /// The order saga's payment timeout, in milliseconds.
    #[arg(long, env = "TECHPOTLI_PAYMENT_TIMEOUT_MS", default_value_t = 900_000,
          value_parser = clap::value_parser!(u64).range(1_000..=604_800_000))]
    payment_timeout_ms: u64,
    /// The processors' commit interval (longest a batch collects before its transaction
    /// commits), in milliseconds: each exactly-once hop adds up to this much latency.
    #[arg(long, env = "TECHPOTLI_COMMIT_INTERVAL_MS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    commit_interval_ms: u64,
}

/// `host:port` of a `scheme://[user@]host:port[/...]` URL.
fn host_port(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    Some(
        authority
            .rsplit_once('@')
            .map_or(authority, |(_, hp)| hp)
            .to_owned(),
    )
}

/// Connects and, for Redis, expects `+PONG` to `PING`.
async fn probe(url: &str, redis: bool) -> Result<(), String> {
    let addr = host_port(url).ok_or_else(|| format!("cannot parse {url}"))?;
    let mut s = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr))
        .await
        .map_err(|_| format!("{addr}: timed out"))?
        .map_err(|e| format!("{addr}: {e}"))?;
    if redis {
        s.write_all(b"PING\r\n").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .map_err(|_| "no reply to PING".to_owned())?
            .map_err(|e| e.to_string())?;
        if !buf[..n].starts_with(b"+PONG") {
            return Err(format!("{addr}: unexpected reply to PING"));
        }
    }
    Ok(())
}

async fn check_services(args: &DevArgs) {
    for (name, url, redis) in [
        ("MariaDB", &args.database_url, false),
        ("Redis", &args.redis_url, true),
    ] {
        match probe(url, redis).await {
            Ok(()) => println!("  ok     {name} at {url}"),
            Err(e) => println!(
                "  WARN   {name} is not reachable at {url} ({e}).\n         Start it with `scripts/ensure-services.sh` (installs and starts MariaDB and Redis),\n         or point {} at a running server. The API (rate limits, idempotency keys) fails open without it; sinks need it.",
                if redis { "REDIS_URL" } else { "DATABASE_URL" }
            ),
        }
    }
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// The ingress API in-process, with dev auth and a dev webhook secret for provider `fake`.
async fn start_api(
    args: &DevArgs,
    bootstrap: &str,
    registry: &str,
) -> anyhow::Result<techpotli_api::Running> {
    let mut config = techpotli_api::Config::for_dev(bootstrap, registry);
    config.listen = args.api_listen;
    config.redis_url.clone_from(&args.redis_url);
    // The read endpoints read what this run's sinks write (no Redis key prefix in dev).
    config.database_url.clone_from(&args.database_url);
    config.read_redis_prefix.clone_from(&args.redis_prefix);
    "fake=whsec_techpotli_dev_only".clone_into(&mut config.payment_webhook_secrets);
    config.shutdown_grace_secs = 5;
    techpotli_api::start(config).await
}

/// Binds every listener once, before anything is created: the first that cannot be bound
/// is named with its flag and address (a clash found half-way would leave topics and
/// schemas behind and no clue which listener it was).
fn check_listeners(args: &DevArgs) -> Result<(), String> {
    let listeners = [
        ("--kafka-listen", args.kafka_listen),
        ("--registry-listen", args.registry_listen),
        ("--api-listen", args.api_listen),
        ("--admin-listen", args.admin_listen),
    ];
    for (i, (flag, addr)) in listeners.iter().enumerate() {
        if let Some((other, _)) = listeners[..i]
            .iter()
            .find(|(_, a)| *a == *addr && addr.port() != 0)
        {
            return Err(format!("{flag} {addr}: the same address as {other}"));
        }
        std::net::TcpListener::bind(addr).map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::AddrInUse {
                "address already in use".to_owned()
            } else {
                e.to_string()
            };
            format!("{flag} {addr}: {why}")
        })?;
    }
    Ok(())
}

pub async fn run(args: DevArgs) -> anyhow::Result<i32> {
    if let Err(e) = check_listeners(&args) {
        eprintln!("techpotli dev: {e}");
        return Ok(2);
    }
    println!(
        "techpotli dev: starting the pipeline (data in {})",
        args.data_dir.display()
    );
    check_services(&args).await;
    let broker = techpotli_kafka::start(techpotli_kafka::BrokerConfig {
        listen: args.kafka_listen,
        data_dir: Some(args.data_dir.join("broker")),
        ..techpotli_kafka::BrokerConfig::default()
    })
    .await?;
    let bootstrap = broker.bootstrap();
    println!("  ok     Kafka broker at {bootstrap}");
    let registry = techpotli_registry::start(techpotli_registry::RegistryConfig {
        listen: args.registry_listen,
        ..techpotli_registry::RegistryConfig::new(bootstrap.clone())
    })
    .await?;
    println!("  ok     schema registry at {}", registry.url());
    prepare(&bootstrap, &registry.url()).await?;
    let targets = crate::dev_processors::SinkTargets {
        database_url: args.database_url.clone(),
        redis_url: args.redis_url.clone(),
        redis_prefix: args.redis_prefix.clone(),
    };
    let processors = crate::dev_processors::start(
        &bootstrap,
        &registry.url(),
        args.admin_listen,
        Duration::from_millis(args.payment_timeout_ms),
        Duration::from_millis(args.commit_interval_ms),
        Some(&targets),
    )
    .await?;
    if let Err(e) = processors.wait_ready(Duration::from_secs(120)).await {
        println!("  ERROR  {e:#}; stopping");
        processors.stop().await;
        registry.shutdown().await;
        broker.shutdown().await;
        return Ok(1);
    }
    println!(
        "  ok     processors {} (admin http://{}/readyz)",
        processors.names().join(", "),
        processors.admin_addr()
    );
    let api = start_api(&args, &bootstrap, &registry.url()).await?;
    println!(
        "  ok     ingress API at {} (INSECURE dev auth: X-Dev-User / X-Dev-Roles headers; docs at /docs)",
        api.url()
    );
    println!("\ntechpotli dev ready");
    println!("  KAFKA_BOOTSTRAP={bootstrap}");
    println!("  SCHEMA_REGISTRY_URL={}", registry.url());
    println!("  API_URL={}", api.url());
    println!("  try: techpotli topics list   |   techpotli tail orders.placed --follow");
    println!("Ctrl-C stops everything.");
    // A processor or sink that dies takes the pipeline down: reads would go stale silently.
    let code = tokio::select! {
        r = shutdown_signal() => { r?; 0 }
        dead = processors.died() => {
            println!("  ERROR  {} stopped by itself; stopping the pipeline", dead.join(", "));
            1
        }
    };
    println!("techpotli dev: stopping");
    if let Err(e) = api.shutdown().await {
        println!("  WARN   ingress API: {e:#}");
    }
    processors.stop().await;
    registry.shutdown().await;
    broker.shutdown().await;
    println!("techpotli dev: stopped");
    Ok(code)
}

/// Makes a cluster and registry ready for the pipeline: the topic catalogue applied and every
/// schema registered (with its compatibility level). Idempotent; used by `dev` and the
/// end-to-end tests.
pub async fn prepare(bootstrap: &str, registry_url: &str) -> anyhow::Result<()> {
    let report = techpotli_topics::apply::apply(
        &topics_cmd::admin(bootstrap)?,
        techpotli_topics::catalogue(),
        false,
    )
    .await?;
    topics_cmd::print_report(&report, false);
    schemas_cmd::register(registry_url).await
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_port_handles_users_paths_and_plain_urls() {
        assert_eq!(
            host_port("mysql://techpotli:techpotli@127.0.0.1:3306/techpotli").as_deref(),
            Some("127.0.0.1:3306")
        );
        assert_eq!(
            host_port("redis://127.0.0.1:6379").as_deref(),
            Some("127.0.0.1:6379")
        );
        assert_eq!(host_port("nonsense"), None);
    }
}
