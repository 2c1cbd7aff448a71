//! `techpotli bench runtime`: the cost of exactly-once processing. On one broker, in one run,
//! the same input is copied to an output twice: by a raw librdkafka consume → produce loop
//! without transactions (the baseline), and by the processor runtime with a state store
//! (`demo::PassThrough`: EOS v2 transactions, changelog writes, committed offsets). Prints
//! records/s for both and the ratio.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use techpotli_runtime::demo::PassThrough;
use techpotli_runtime::{Runtime, RuntimeConfig};

use super::broker::{Shape, copy_phase, create_topics, produce_phase};
use super::{Measured, print_table, records_bar};

#[derive(Debug, Args)]
pub struct RuntimeBench {
    /// Measure the cluster at `--bootstrap` instead of an embedded broker started in-process.
    #[arg(long)]
    external: bool,
    /// Records copied by each contender.
    #[arg(long, default_value_t = 500_000, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    record_bytes: u64,
    /// Distinct keys (the store holds one value per key).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    keys: u64,
    /// Partitions of the input and output topics.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=1000))]
    partitions: i32,
    /// Most records per transaction (the runtime's `TECHPOTLI_MAX_BATCH`).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_batch: u64,
}

/// The runtime copying `input` to `output` until every record is committed.
fn runtime_phase(
    b: &RuntimeBench,
    bootstrap: &str,
    input: &str,
    output: &str,
) -> anyhow::Result<Measured> {
    let app = format!("bench-runtime-{}", std::process::id());
    let mut cfg = RuntimeConfig::new(bootstrap, &app, "bench-0", &[input]);
    cfg.max_batch = b.max_batch as usize;
    let bar = records_bar("runtime (EOS + store)", b.records);
    let started = Instant::now();
    let rt = Runtime::spawn(
        cfg,
        PassThrough {
            output: output.to_owned(),
        },
    )?;
    loop {
        let done = rt.stats().processed;
        bar.set_position(done);
        if done >= b.records {
            break;
        }
        if rt.is_finished() {
            rt.join()?;
            bail!("runtime stopped after {done} records");
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!(
                "runtime: only {done} of {} records in 10 minutes",
                b.records
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    bar.finish();
    let stats = rt.stop()?;
    Ok(Measured {
        name: "runtime: exactly-once + store",
        records: stats.processed,
        bytes: stats.processed * b.record_bytes,
        elapsed,
    })
}

pub fn run(b: &RuntimeBench, external_bootstrap: &str) -> anyhow::Result<()> {
    techpotli_telemetry::init_logging("warn");
    let rt = super::services_runtime()?;
    let broker = super::BenchBroker::start(
        &rt,
        b.external.then_some(external_bootstrap),
        techpotli_kafka::BrokerConfig::default(),
    )?;
    let bootstrap = broker.bootstrap.clone();
    let run_id = std::process::id();
    let (input, raw_out, rt_out) = (
        format!("bench.rt-input-{run_id}"),
        format!("bench.rt-raw-{run_id}"),
        format!("bench.rt-runtime-{run_id}"),
    );
    println!(
        "runtime bench: {} records x {} bytes over {} keys, {} partitions, max batch {}, broker {}",
        b.records,
        b.record_bytes,
        b.keys,
        b.partitions,
        b.max_batch,
        broker.describe()
    );
    create_topics(&bootstrap, &[&input, &raw_out, &rt_out], b.partitions)?;
    let shape = Shape {
        records: b.records,
        record_bytes: b.record_bytes,
        partitions: b.partitions,
        keys: b.keys,
    };
    let produce = produce_phase(&shape, &bootstrap, &input)?;
    let raw = copy_phase(&shape, &bootstrap, &input, &raw_out, false)?;
    let runtime = runtime_phase(b, &bootstrap, &input, &rt_out)?;
    let ratio = runtime.records_per_sec() / raw.records_per_sec();
    print_table(&[produce, raw, runtime]);
    println!("\nruntime (exactly-once + store) / raw pass-through: {ratio:.2}x (target >= 0.30)");
    broker.stop(&rt);
    Ok(())
}
