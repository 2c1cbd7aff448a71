//! `techpotli bench broker`: produce and consume N records (acks=all, idempotent), then copy
//! them topic to topic twice — plain and transactional (EOS v2) — and report the
//! transactional/plain ratio, then the latency at a steady rate. Runs against the embedded
//! broker unless `--external` is given; `--against <bootstrap>` runs the same phases on another
//! cluster too (Apache Kafka from `scripts/kafka.sh`) and prints embedded/other ratios.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::{ClientConfig, ClientContext};

use super::latency::{self, Latency};
use super::{Measured, print_table, records_bar};

/// Records per transaction in the transactional copy (Kafka Streams commits every 100 ms).
const TXN_BATCH: u64 = 10_000;

#[derive(Debug, Args)]
pub struct BrokerBench {
    /// Measure the cluster at `--bootstrap` instead of an embedded broker started in-process.
    #[arg(long)]
    external: bool,
    /// Records per phase.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    record_bytes: u64,
    /// Partitions of the benchmark topics.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..=1000))]
    partitions: i32,
    /// Give the embedded broker a data directory (measures with persistence).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Also run every phase on this cluster (e.g. Apache Kafka) and print the embedded
    /// broker's figures as ratios to it.
    #[arg(long, value_name = "BOOTSTRAP")]
    against: Option<String>,
}

/// The size of a benchmark run, shared by the broker and runtime benchmarks.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub records: u64,
    pub record_bytes: u64,
    pub partitions: i32,
    /// Distinct keys (`i % keys`); 0: every record its own key.
    pub keys: u64,
}

impl BrokerBench {
    fn shape(&self) -> Shape {
        Shape {
            records: self.records,
            record_bytes: self.record_bytes,
            partitions: self.partitions,
            keys: 0,
        }
    }
}

/// Counts delivery reports so produce throughput means acknowledged records.
#[derive(Default)]
struct Acks {
    ok: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Acks {}
impl ProducerContext for Acks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, (): ()) {
        match result {
            Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

pub(super) fn client(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c
}

fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> anyhow::Result<BaseProducer<Acks>> {
    let mut all = vec![
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        ("batch.size", "1000000"),
        ("queue.buffering.max.messages", "1000000"),
        ("queue.buffering.max.kbytes", "1048576"),
        ("partitioner", "murmur2_random"),
    ];
    all.extend_from_slice(extra);
    Ok(client(bootstrap, &all).create_with_context(Acks::default())?)
}

/// Sends one record, polling for delivery reports while the local queue is full.
fn send(p: &BaseProducer<Acks>, topic: &str, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
    let mut record = BaseRecord::to(topic).key(key).payload(value);
    loop {
        match p.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                p.poll(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

fn assign_from_start(c: &BaseConsumer, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    c.assign(&tpl)?;
    Ok(())
}

pub(super) fn create_topics(
    bootstrap: &str,
    names: &[&str],
    partitions: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client(bootstrap, &[]).create()?;
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    for r in rt.block_on(admin.create_topics(&topics, &AdminOptions::new()))? {
        r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }
    Ok(())
}

pub(super) fn produce_phase(b: &Shape, bootstrap: &str, topic: &str) -> anyhow::Result<Measured> {
    let p = producer(bootstrap, &[])?;
    let value = vec![b'x'; b.record_bytes as usize];
    let bar = records_bar("produce (acks=all)", b.records);
    let started = Instant::now();
    for i in 0..b.records {
        let key = if b.keys == 0 { i } else { i % b.keys };
        send(&p, topic, &key.to_be_bytes(), &value)?;
        if i % 10_000 == 0 {
            p.poll(Duration::ZERO);
            bar.set_position(p.context().ok.load(Ordering::Relaxed));
        }
    }
    p.flush(Duration::from_secs(300))?;
    let elapsed = started.elapsed();
    bar.finish();
    let (ok, failed) = (
        p.context().ok.load(Ordering::Relaxed),
        p.context().failed.load(Ordering::Relaxed),
    );
    if ok != b.records || failed > 0 {
        bail!(
            "produce: {ok} acknowledged, {failed} failed of {}",
            b.records
        );
    }
    Ok(Measured {
        name: "produce (acks=all, idempotent)",
        records: ok,
        bytes: ok * b.record_bytes,
        elapsed,
    })
}

fn consume_phase(b: &Shape, bootstrap: &str, topic: &str) -> anyhow::Result<Measured> {
    let c: BaseConsumer = client(
        bootstrap,
        &[
            ("group.id", "bench-consume"),
            ("enable.auto.commit", "false"),
        ],
    )
    .create()?;
    assign_from_start(&c, topic, b.partitions)?;
    let bar = records_bar("consume", b.records);
    let started = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    while n < b.records {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            bytes += m?.payload_len() as u64;
            n += 1;
            if n % 10_000 == 0 {
                bar.set_position(n);
            }
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("consume: only {n} of {} records in 10 minutes", b.records);
        }
    }
    bar.finish();
    Ok(Measured {
        name: "consume",
        records: n,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Copies `input` to `output`; with `transactional`, in EOS v2 transactions of `TXN_BATCH`.
pub(super) fn copy_phase(
    b: &Shape,
    bootstrap: &str,
    input: &str,
    output: &str,
    transactional: bool,
) -> anyhow::Result<Measured> {
    let group = format!("bench-copy-{output}");
    let c: BaseConsumer = client(
        bootstrap,
        &[
            ("group.id", &group),
            ("enable.auto.commit", "false"),
            ("isolation.level", "read_committed"),
        ],
    )
    .create()?;
    assign_from_start(&c, input, b.partitions)?;
    let txn_id = format!("bench-{output}");
    let extra: Vec<(&str, &str)> = if transactional {
        vec![("transactional.id", &txn_id)]
    } else {
        vec![]
    };
    let p = producer(bootstrap, &extra)?;
    if transactional {
        p.init_transactions(Duration::from_secs(30))?;
        p.begin_transaction()?;
    }
    let label = if transactional {
        "copy (transactional)"
    } else {
        "copy (plain)"
    };
    let bar = records_bar(label, b.records);
    let started = Instant::now();
    let (mut n, mut bytes, mut in_txn) = (0u64, 0u64, 0u64);
    while n < b.records {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m?;
            send(
                &p,
                output,
                m.key().unwrap_or_default(),
                m.payload().unwrap_or_default(),
            )?;
            bytes += m.payload_len() as u64;
            n += 1;
            in_txn += 1;
        }
        if transactional && (in_txn >= TXN_BATCH || n == b.records) {
            let positions = c.position()?;
            let meta = c.group_metadata().context("consumer group metadata")?;
            p.send_offsets_to_transaction(&positions, &meta, Duration::from_secs(30))?;
            p.commit_transaction(Duration::from_secs(60))?;
            in_txn = 0;
            if n < b.records {
                p.begin_transaction()?;
            }
        }
        if n % 10_000 == 0 {
            p.poll(Duration::ZERO);
            bar.set_position(n);
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("{label}: only {n} of {} records in 10 minutes", b.records);
        }
    }
    p.flush(Duration::from_secs(300))?;
    bar.finish();
    let name = if transactional {
        "copy, transactional (EOS v2)"
    } else {
        "copy, plain (at-least-once)"
    };
    Ok(Measured {
        name,
        records: n,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// Every phase's figures on one broker.
struct Run {
    phases: Vec<Measured>,
    latency: Latency,
}

fn measure(b: &BrokerBench, bootstrap: &str, label: &str) -> anyhow::Result<Run> {
    let run_id = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
    let (input, plain_out, txn_out, lat) = (
        format!("bench.input-{run_id}"),
        format!("bench.plain-{run_id}"),
        format!("bench.txn-{run_id}"),
        format!("bench.latency-{run_id}"),
    );
    println!(
        "\nbroker bench on {label}: {} records x {} bytes, {} partitions",
        b.records, b.record_bytes, b.partitions,
    );
    create_topics(bootstrap, &[&input, &plain_out, &txn_out], b.partitions)?;
    create_topics(bootstrap, &[&lat], 1)?;
    let shape = b.shape();
    let produce = produce_phase(&shape, bootstrap, &input)?;
    let consume = consume_phase(&shape, bootstrap, &input)?;
    let plain = copy_phase(&shape, bootstrap, &input, &plain_out, false)?;
    let txn = copy_phase(&shape, bootstrap, &input, &txn_out, true)?;
    let latency = latency::phase(bootstrap, &lat)?;
    let ratio = txn.records_per_sec() / plain.records_per_sec();
    let phases = vec![produce, consume, plain, txn];
    print_table(&phases);
    println!("\ntransactional / plain copy throughput: {ratio:.2}x");
    println!(
        "latency at a steady rate: ack p50 {:.2} ms, p99 {:.2} ms; produce-to-consume p50 {:.2} ms, p99 {:.2} ms",
        latency.ack_p50, latency.ack_p99, latency.e2e_p50, latency.e2e_p99
    );
    Ok(Run { phases, latency })
}

/// Side by side: ours over theirs, so above 1 is faster for throughput and slower for latency.
fn print_comparison(ours: &Run, theirs: &Run, them: &str) {
    println!(
        "\n{:<34} {:>14} {:>14} {:>8}",
        "embedded vs", "embedded", them, "ratio"
    );
    for (o, t) in ours.phases.iter().zip(&theirs.phases) {
        let r = o.records_per_sec() / t.records_per_sec();
        println!(
            "{:<34} {:>10.0} r/s {:>10.0} r/s {:>7.2}x",
            o.name,
            o.records_per_sec(),
            t.records_per_sec(),
            r
        );
    }
    let (o, t) = (ours.latency, theirs.latency);
    for (name, a, b) in [
        ("ack latency p99", o.ack_p99, t.ack_p99),
        ("produce-to-consume p99", o.e2e_p99, t.e2e_p99),
    ] {
        println!("{name:<34} {a:>11.2} ms {b:>11.2} ms {:>7.2}x", a / b);
    }
}

pub fn run(b: &BrokerBench, external_bootstrap: &str) -> anyhow::Result<()> {
    let rt = super::services_runtime()?;
    let broker = super::BenchBroker::start(
        &rt,
        b.external.then_some(external_bootstrap),
        techpotli_kafka::BrokerConfig {
            data_dir: b.data_dir.clone(),
            ..techpotli_kafka::BrokerConfig::default()
        },
    )?;
    let ours = measure(b, &broker.bootstrap.clone(), &broker.describe())?;
    broker.stop(&rt);
    if let Some(other) = &b.against {
        let theirs = measure(b, other, other)?;
        print_comparison(&ours, &theirs, "against");
    }
    Ok(())
}
