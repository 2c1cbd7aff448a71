//! `techpotli`: run, inspect and measure the pipeline.

use clap::{Parser, Subcommand};
use techpotli_cli::{bench, dev, docs_cmd, schemas_cmd, tail, topics_cmd};

/// mimalloc: glibc malloc cost the services a fifth of their CPU under load (README "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// TechPotli stream: run, inspect and measure the pipeline.
#[derive(Debug, Parser)]
#[command(name = "techpotli", version, propagate_version = true)]
struct Cli {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        global = true,
        env = "KAFKA_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap: String,
    /// Schema registry URL.
    #[arg(
        long,
        global = true,
        env = "SCHEMA_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    registry: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole pipeline locally (embedded broker, registry, topics, schemas, components).
    Dev(dev::DevArgs),
    /// The topic catalogue against a cluster.
    #[command(subcommand)]
    Topics(topics_cmd::TopicsCommand),
    /// Avro schemas against the registry.
    #[command(subcommand)]
    Schemas(schemas_cmd::SchemasCommand),
    /// Print a topic's records decoded, as JSON lines.
    Tail(tail::TailArgs),
    /// Regenerate docs/topics.md (or check that it is current).
    Docs {
        /// Fail if the committed file differs from what would be generated.
        #[arg(long)]
        check: bool,
    },
    /// Measure throughput (numbers go in the README's performance table).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> anyhow::Result<()> {
    // `techpotli tail ... | head` must end quietly when the reader goes away, like other Unix
    // tools, instead of panicking on a broken pipe.
    sigpipe::reset();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let code = match cli.command {
        Command::Dev(args) => {
            tracing_subscriber::fmt()
                .json()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "warn".into()),
                )
                .init();
            runtime.block_on(dev::run(args))?
        }
        Command::Topics(cmd) => runtime.block_on(topics_cmd::run(cmd, &cli.bootstrap))?,
        Command::Schemas(cmd) => runtime.block_on(schemas_cmd::run(cmd, &cli.registry))?,
        Command::Tail(args) => runtime.block_on(tail::run(args, &cli.bootstrap, &cli.registry))?,
        Command::Docs { check } => docs_cmd::run(check)?,
        Command::Bench(b) => {
            drop(runtime);
            bench::run(b, &cli.bootstrap)?;
            0
        }
    };
    std::process::exit(code);
}
