//! Latency at a steady rate, the figure throughput phases hide: records are produced at a fixed
//! rate (acks=all, idempotent, no linger) while a consumer in the same process reads them, and
//! the p50/p99 of the acknowledgement time and of produce-to-consume time are reported.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::percentile;

/// Records per second of the latency phase: well below any broker's ceiling, so queues stay
/// empty and the figures are the path's, not a backlog's.
const RATE: u64 = 2_000;
const SECONDS: u64 = 5;

/// Latency quantiles in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub ack_p50: f64,
    pub ack_p99: f64,
    pub e2e_p50: f64,
    pub e2e_p99: f64,
}

/// Acknowledgement times, one per record.
#[derive(Default)]
struct AckTimes(Mutex<Vec<Duration>>);

impl ClientContext for AckTimes {}
impl ProducerContext for AckTimes {
    type DeliveryOpaque = Box<Instant>;
    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Instant>) {
        if result.is_ok() {
            self.0.lock().expect("lock").push(sent.elapsed());
        }
    }
}

fn quantiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort_unstable();
    let ms = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1_000.0);
    (ms(percentile(&v, 0.50)), ms(percentile(&v, 0.99)))
}

/// Produces `RATE` records/s for `SECONDS` to partition 0 of `topic` and reads them back.
pub fn phase(bootstrap: &str, topic: &str) -> anyhow::Result<Latency> {
    let total = RATE * SECONDS;
    let base = Instant::now();
    let consumer: BaseConsumer = super::broker::client(
        bootstrap,
        &[
            ("group.id", "bench-latency"),
            ("enable.auto.commit", "false"),
            ("fetch.wait.max.ms", "5"),
            ("fetch.min.bytes", "1"),
        ],
    )
    .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let reader = std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
        let mut seen = Vec::with_capacity(total as usize);
        let deadline = Instant::now() + Duration::from_secs(SECONDS + 60);
        while (seen.len() as u64) < total {
            if Instant::now() > deadline {
                bail!("latency: only {} of {total} records read", seen.len());
            }
            if let Some(m) = consumer.poll(Duration::from_millis(50)) {
                let m = m?;
                let payload = m.payload().context("payload")?;
                let sent = u64::from_be_bytes(payload[..8].try_into()?);
                let now = base.elapsed().as_micros() as u64;
                seen.push(Duration::from_micros(now.saturating_sub(sent)));
            }
        }
        Ok(seen)
    });
    let producer: BaseProducer<AckTimes> = super::broker::client(
        bootstrap,
        &[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            ("linger.ms", "0"),
        ],
    )
    .create_with_context(AckTimes::default())?;
    let interval = Duration::from_secs(1) / RATE as u32;
    let started = Instant::now();
    for i in 0..total {
        let due = started + interval * i as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            producer.poll(wait);
        }
        let mut value = (base.elapsed().as_micros() as u64).to_be_bytes().to_vec();
        value.resize(100, b'x');
        let key = i.to_be_bytes();
        let record = BaseRecord::with_opaque_to(topic, Box::new(Instant::now()))
            .partition(0)
            .key(&key)
            .payload(&value);
        producer.send(record).map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(60))?;
    let e2e = reader.join().expect("reader thread")?;
    let acks = std::mem::take(&mut *producer.context().0.lock().expect("lock"));
    if acks.len() as u64 != total {
        bail!("latency: {} of {total} records acknowledged", acks.len());
    }
    let (ack_p50, ack_p99) = quantiles(acks);
    let (e2e_p50, e2e_p99) = quantiles(e2e);
    Ok(Latency {
        ack_p50,
        ack_p99,
        e2e_p50,
        e2e_p99,
    })
}
