//! `techpotli bench runtime`: the cost of exactly-once processing and of the runtime's building
//! blocks. On one broker, in one run, the same input goes through:
//! - a raw librdkafka consume → produce loop without transactions (the baseline);
//! - the runtime with a state store (`demo::PassThrough`: EOS v2 transactions, changelog
//!   writes, committed offsets) — the plain pass-through;
//! - a stream–table join (`demo::JoinDemo` over a co-partitioned table of every key);
//! - a windowed count (`demo::WindowedCount`, 1 s tumbling windows);
//! - Kafka Streams doing the plain pass-through's work with EOS v2 (`cli/bench/kafka-streams`,
//!   built with Maven; skipped with `--without-kafka-streams`);
//!
//! and a changelog of `--restore-keys` keys is restored as a processor does on assignment.
//! Prints records/s for each and the ratios against the baselines of the same run.

use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use techpotli_runtime::demo::{JoinDemo, JoinMode, PassThrough, WindowedCount};
use techpotli_runtime::{Processor, Runtime, RuntimeConfig};

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
    /// Keys written to a changelog and restored (0: skip the restore measurement).
    #[arg(long, default_value_t = 1_000_000)]
    restore_keys: u64,
    /// Skip the Kafka Streams contender (it needs Java 17 and Maven).
    #[arg(long)]
    without_kafka_streams: bool,
}

/// `processor` under the runtime over `input` until `expect` records (the input, plus any
/// table records it consumes) are committed, at most `max_batch` per transaction; the rate
/// counts the `shape.records` input records.
pub(super) fn runtime_phase<P: Processor>(
    (shape, max_batch): (&Shape, u64),
    bootstrap: &str,
    input: &str,
    name: &'static str,
    processor: P,
    expect: u64,
) -> anyhow::Result<Measured> {
    let app = format!(
        "bench-runtime-{}-{}",
        name.replace([' ', ':', '+'], ""),
        std::process::id()
    );
    let mut cfg = RuntimeConfig::new(bootstrap, &app, "bench-0", &[input]);
    cfg.max_batch = max_batch as usize;
    let bar = records_bar(name, expect);
    let started = Instant::now();
    let rt = Runtime::spawn(cfg, processor)?;
    loop {
        let done = rt.stats().processed;
        bar.set_position(done);
        if done >= expect {
            break;
        }
        if rt.is_finished() {
            rt.join()?;
            bail!("{name}: runtime stopped after {done} records");
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("{name}: only {done} of {expect} records in 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    bar.finish();
    rt.stop()?;
    Ok(Measured {
        name,
        records: shape.records,
        bytes: shape.records * shape.record_bytes,
        elapsed,
    })
}

/// Restores a changelog of `--restore-keys` keys (one record each) the way a processor does on
/// assignment, and reports keys/s.
fn restore_phase(b: &RuntimeBench, bootstrap: &str, topic: &str) -> anyhow::Result<Measured> {
    let shape = Shape {
        records: b.restore_keys,
        record_bytes: b.record_bytes,
        partitions: b.partitions,
        keys: b.restore_keys,
    };
    produce_phase(&shape, bootstrap, topic)?;
    let partitions: Vec<i32> = (0..b.partitions).collect();
    let started = Instant::now();
    let (state, records) = techpotli_runtime::changelog::restore(
        bootstrap,
        topic,
        &partitions,
        Duration::from_secs(600),
    )?;
    let elapsed = started.elapsed();
    let keys: usize = state.values().map(std::collections::BTreeMap::len).sum();
    if keys as u64 != b.restore_keys {
        bail!(
            "restore: {keys} keys of {} ({records} records read)",
            b.restore_keys
        );
    }
    Ok(Measured {
        name: "restore: keys from a changelog",
        records: keys as u64,
        bytes: keys as u64 * b.record_bytes,
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
    let [
        input,
        raw_out,
        rt_out,
        table,
        join_out,
        window_out,
        changelog,
        streams_out,
    ] = [
        "input",
        "raw",
        "runtime",
        "table",
        "join",
        "window",
        "changelog",
        "kstreams",
    ]
    .map(|n| format!("bench.rt-{n}-{run_id}"));
    println!(
        "runtime bench: {} records x {} bytes over {} keys, {} partitions, max batch {}, broker {}",
        b.records,
        b.record_bytes,
        b.keys,
        b.partitions,
        b.max_batch,
        broker.describe()
    );
    create_topics(
        &bootstrap,
        &[
            &input,
            &raw_out,
            &rt_out,
            &table,
            &join_out,
            &window_out,
            &changelog,
            &streams_out,
        ],
        b.partitions,
    )?;
    // Built before anything is measured, so Maven's time is nobody's.
    let streams_classpath = if b.without_kafka_streams {
        None
    } else {
        Some(super::kafka_streams::build()?)
    };
    let shape = Shape {
        records: b.records,
        record_bytes: b.record_bytes,
        partitions: b.partitions,
        keys: b.keys,
    };
    let produce = produce_phase(&shape, &bootstrap, &input)?;
    // One price per key: every stream record finds its row.
    let table_shape = Shape {
        records: b.keys,
        ..shape
    };
    produce_phase(&table_shape, &bootstrap, &table)?;
    let raw = copy_phase(&shape, &bootstrap, &input, &raw_out, false)?;
    let pass = PassThrough { output: rt_out };
    let runtime = runtime_phase(
        (&shape, b.max_batch),
        &bootstrap,
        &input,
        "runtime: exactly-once + store",
        pass,
        b.records,
    )?;
    let join = JoinDemo {
        mode: JoinMode::Table,
        table_topic: table,
        output: join_out,
    };
    let joined = runtime_phase(
        (&shape, b.max_batch),
        &bootstrap,
        &input,
        "runtime: stream-table join",
        join,
        b.records + b.keys,
    )?;
    let counter = WindowedCount::new(&window_out, 1_000, 0).map_err(anyhow::Error::msg)?;
    let windowed = runtime_phase(
        (&shape, b.max_batch),
        &bootstrap,
        &input,
        "runtime: 1 s windowed count",
        counter,
        b.records,
    )?;
    let streams = streams_classpath
        .map(|cp| {
            super::kafka_streams::phase(
                &cp,
                &bootstrap,
                &input,
                &streams_out,
                b.partitions,
                (b.records, b.record_bytes),
            )
        })
        .transpose()?;
    let restore = (b.restore_keys > 0)
        .then(|| restore_phase(b, &bootstrap, &changelog))
        .transpose()?;
    let raw_rate = raw.records_per_sec();
    let pass_rate = runtime.records_per_sec();
    let ratios = [
        (
            "runtime (exactly-once + store) / raw",
            pass_rate / raw_rate,
            "goal >= 0.80",
        ),
        (
            "stream-table join / runtime pass-through",
            joined.records_per_sec() / pass_rate,
            "goal >= 0.50",
        ),
        (
            "stream-table join / raw",
            joined.records_per_sec() / raw_rate,
            "",
        ),
        (
            "windowed count / runtime pass-through",
            windowed.records_per_sec() / pass_rate,
            "",
        ),
    ];
    let streams_ratio = streams.as_ref().map(|s| pass_rate / s.records_per_sec());
    let mut rows = vec![produce, raw, runtime, joined, windowed];
    rows.extend(streams);
    rows.extend(restore);
    print_table(&rows);
    println!();
    for (what, ratio, goal) in ratios {
        println!("{what}: {ratio:.2}x {goal}");
    }
    if let Some(r) = streams_ratio {
        println!("runtime pass-through / Kafka Streams (EOS v2 + store): {r:.2}x");
    }
    if let Some(r) = rows.iter().find(|r| r.name.starts_with("restore")) {
        println!(
            "restore: {} keys in {:.2} s = {:.0} keys/s",
            r.records,
            r.elapsed.as_secs_f64(),
            r.records_per_sec()
        );
    }
    broker.stop(&rt);
    Ok(())
}
