//! Benchmarks. Each prints its numbers and ratios against a baseline measured in the same run,
//! never against constants, so results are comparable across machines.

mod broker;
mod ingress;
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
}

pub fn run(cmd: BenchCommand, bootstrap: &str) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Broker(b) => broker::run(&b, bootstrap),
        BenchCommand::Ingress(b) => ingress::run(&b),
        BenchCommand::Runtime(b) => runtime::run(&b, bootstrap),
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
