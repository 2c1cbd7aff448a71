//! The sink loop against an in-memory sink: it starts each partition at the sink's stored
//! offset (not the group's), retries transient failures without dead-lettering, sends the
//! records the sink rejects to `<topic>.dlq` with the `dlq.*` headers, applies every other
//! record exactly once, and records its metrics.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestBroker, create_topic, produce, producer, unique, wait_until};
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::message::OwnedMessage;
use techpotli_runtime::InputRecord;
use techpotli_runtime::sink::{Reject, Sink, SinkConfig, SinkError, SinkRunner, Tp, next_offsets};

#[derive(Default)]
struct Store {
    /// (topic, partition, offset) of every applied record, in apply order.
    applied: Vec<(String, i32, i64)>,
    offsets: HashMap<Tp, i64>,
    /// Transient failures still to inject (one per stage call).
    failures: u32,
}

/// A staged batch: its rows and its next offsets.
type Staged = (Vec<(String, i32, i64)>, std::collections::BTreeMap<Tp, i64>);

struct MemorySink {
    store: Arc<Mutex<Store>>,
    staged: Option<Staged>,
}

impl Sink for MemorySink {
    async fn stored_offsets(&mut self, partitions: &[Tp]) -> Result<HashMap<Tp, i64>, SinkError> {
        let s = self.store.lock().unwrap();
        Ok(partitions
            .iter()
            .filter_map(|tp| s.offsets.get(tp).map(|o| (tp.clone(), *o)))
            .collect())
    }

    async fn stage(&mut self, batch: &[InputRecord]) -> Result<Vec<Reject>, SinkError> {
        let mut s = self.store.lock().unwrap();
        if s.failures > 0 {
            s.failures -= 1;
            return Err(SinkError::Transient("store unreachable (injected)".into()));
        }
        let mut rows = Vec::new();
        let mut rejects = Vec::new();
        for (index, r) in batch.iter().enumerate() {
            if r.value.as_deref() == Some(b"poison") {
                rejects.push(Reject {
                    index,
                    class: "constraint".into(),
                    reason: "poison value".into(),
                });
            } else {
                rows.push((r.meta.topic.clone(), r.meta.partition, r.meta.offset));
            }
        }
        self.staged = Some((rows, next_offsets(batch)));
        Ok(rejects)
    }

    async fn commit(&mut self) -> Result<(), SinkError> {
        if let Some((rows, next)) = self.staged.take() {
            let mut s = self.store.lock().unwrap();
            s.applied.extend(rows);
            s.offsets.extend(next);
        }
        Ok(())
    }

    async fn rollback(&mut self) {
        self.staged = None;
    }
}

/// Every record of `topic` (partitions assigned by hand, no group) until 1 s passes quietly.
fn read_assigned(bootstrap: &str, topic: &str, partitions: i32) -> Vec<OwnedMessage> {
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("verify"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut last = std::time::Instant::now();
    while last.elapsed() < Duration::from_secs(1) {
        if let Some(r) = c.poll(Duration::from_millis(50)) {
            out.push(r.unwrap().detach());
            last = std::time::Instant::now();
        }
    }
    out
}

#[test]
fn the_loop_starts_at_the_sinks_offsets_retries_and_dead_letters() {
    let b = TestBroker::start();
    let topic = unique("sink-in");
    create_topic(&b.bootstrap, &topic, 2);
    let records: Vec<(String, Vec<u8>)> = (0..400)
        .map(|i| {
            let v = if i % 50 == 7 {
                b"poison".to_vec()
            } else {
                format!("v{i}").into_bytes()
            };
            (format!("k{i}"), v)
        })
        .collect();
    produce(&producer(&b.bootstrap), &topic, &records);

    // Partition 0 is already applied up to offset 20 in the sink's own store.
    let store = Arc::new(Mutex::new(Store {
        failures: 3,
        offsets: HashMap::from([((topic.clone(), 0), 20)]),
        ..Store::default()
    }));
    let metrics = techpotli_telemetry::metrics::prometheus();
    let mut cfg = SinkConfig::new(&b.bootstrap, &unique("sink-app"), "i0", &[topic.as_str()]);
    cfg.max_batch = 37;
    let app = cfg.app_id.clone();
    let s = store.clone();
    let t0 = std::time::Instant::now();
    let runner = SinkRunner::spawn(cfg, async move {
        Ok(MemorySink {
            store: s,
            staged: None,
        })
    })
    .expect("spawn");
    wait_until("all partitions applied", Duration::from_secs(60), || {
        let s = store.lock().unwrap();
        s.offsets.values().sum::<i64>() == records.len() as i64
    });
    println!("caught up after {:?}", t0.elapsed());
    let stats = runner.stop().expect("clean stop");
    assert!(stats.retries >= 3, "{stats:?}");

    let s = store.lock().unwrap();
    let distinct: BTreeSet<_> = s.applied.iter().cloned().collect();
    assert_eq!(distinct.len(), s.applied.len(), "no record applied twice");
    let p0_first = s
        .applied
        .iter()
        .filter(|(_, p, _)| *p == 0)
        .map(|(_, _, o)| *o)
        .min();
    assert_eq!(
        p0_first,
        Some(20),
        "partition 0 resumed at the sink's offset"
    );
    let dead = read_assigned(&b.bootstrap, &format!("{topic}.dlq"), 2);
    let dead_before_20_on_p0 = dead
        .iter()
        .filter(|m| {
            let h = m.headers().unwrap();
            let get = |k: &str| {
                let v = h.iter().find(|x| x.key == k).unwrap().value.unwrap();
                String::from_utf8(v.to_vec()).unwrap()
            };
            assert_eq!(get("dlq.error.class"), "constraint");
            assert_eq!(get("dlq.error.message"), "poison value");
            assert_eq!(get("dlq.source.topic"), topic);
            assert_eq!(get("dlq.app"), app);
            get("dlq.source.partition") == "0"
                && get("dlq.source.offset").parse::<i64>().unwrap() < 20
        })
        .count();
    assert_eq!(
        s.applied.len() + dead.len() + dead_before_20_on_p0,
        records.len() - 20,
        "every record past the stored offsets applied or dead-lettered once"
    );
    assert_eq!(
        dead_before_20_on_p0, 0,
        "nothing below the stored offset re-read"
    );
    assert_eq!(stats.dead_lettered as usize, dead.len());
    assert!(dead.iter().all(|m| m.payload() == Some(&b"poison"[..])));

    let page = metrics.render();
    for series in [
        "sink_records_applied_total",
        "sink_dlq_total",
        "sink_batch_seconds",
        "sink_retries_total",
    ] {
        assert!(
            page.contains(series),
            "{series} missing from /metrics:\n{page}"
        );
    }
}

#[test]
fn a_stored_offset_beyond_the_log_end_stops_the_sink_with_the_reason() {
    let b = TestBroker::start();
    let topic = unique("sink-gone");
    create_topic(&b.bootstrap, &topic, 1);
    let records: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("k{i}"), format!("v{i}").into_bytes()))
        .collect();
    produce(&producer(&b.bootstrap), &topic, &records);
    // The store says 1,000 records were applied from a log that now holds 5 (recreated).
    let store = Arc::new(Mutex::new(Store {
        offsets: HashMap::from([((topic.clone(), 0), 1_000)]),
        ..Store::default()
    }));
    let cfg = SinkConfig::new(&b.bootstrap, &unique("sink-app"), "i0", &[topic.as_str()]);
    let s = store.clone();
    let runner = SinkRunner::spawn(cfg, async move {
        Ok(MemorySink {
            store: s,
            staged: None,
        })
    })
    .expect("spawn");
    wait_until("the sink gives up", Duration::from_secs(60), || {
        runner.is_finished()
    });
    let err = runner.join().expect_err("the sink fails").to_string();
    assert!(err.contains("beyond the log end 5"), "{err}");
    assert!(store.lock().unwrap().applied.is_empty(), "nothing applied");
}
