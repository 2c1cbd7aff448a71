//! `techpotli-registry`: the embedded schema registry as a standalone process.

use std::net::SocketAddr;

use clap::Parser;
use techpotli_registry::RegistryConfig;

/// Confluent-compatible schema registry backed by a compacted Kafka topic (dev and test default).
#[derive(Debug, Parser)]
#[command(name = "techpotli-registry", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(
        long,
        env = "TECHPOTLI_REGISTRY_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    listen: SocketAddr,
    /// Kafka bootstrap servers holding the schemas topic.
    #[arg(long, env = "KAFKA_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    kafka: String,
    /// Topic that stores schemas (Confluent's kafkastore.topic).
    #[arg(long, env = "TECHPOTLI_REGISTRY_TOPIC", default_value = "_schemas")]
    topic: String,
}

/// mimalloc: glibc malloc cost the services a fifth of their CPU under load (README "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = RegistryConfig {
        listen: args.listen,
        bootstrap: args.kafka,
        topic: args.topic,
    };
    // Handlers before the listening line: a supervisor may signal as soon as it reads it.
    let (mut term, mut int) = (
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?,
    );
    let handle = techpotli_registry::start(config).await?;
    println!("techpotli-registry listening on {}", handle.addr());
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}
