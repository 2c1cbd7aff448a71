//! `techpotli`: the project's command line.
//!
//! # Layout
//! - `bench`: throughput benchmarks (`techpotli bench broker`).

mod bench;

use clap::{Parser, Subcommand};

/// TechPotli stream: run, inspect and measure the pipeline.
#[derive(Debug, Parser)]
#[command(name = "techpotli", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure throughput (numbers go in the README's performance table).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(b) => bench::run(b),
    }
}
