//! The runtime in-process against the embedded broker: exactly-once running totals, state
//! restored by a fresh instance, and poison records dead-lettered with their error headers.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    TestBroker, assert_prefix_sums, be, create_topic, produce, producer, read_all, restored_totals,
    totals_by_key, unique, wait_for,
};
use rdkafka::Message;
use rdkafka::message::Headers;
use techpotli_runtime::changelog::dlq_topic;
use techpotli_runtime::demo::RunningTotal;
use techpotli_runtime::{Runtime, RuntimeConfig};

const PARTITIONS: i32 = 3;

fn start(b: &TestBroker, app: &str, instance: &str, input: &str, output: &str) -> Runtime {
    let mut cfg = RuntimeConfig::new(&b.bootstrap, app, instance, &[input]);
    cfg.session_timeout = Duration::from_secs(6);
    Runtime::spawn(
        cfg,
        RunningTotal {
            output: output.to_owned(),
        },
    )
    .expect("spawn")
}

#[test]
fn running_totals_are_exactly_once_and_restored_by_a_fresh_instance() {
    const RECORDS: usize = 10_000;
    const KEYS: usize = 100;
    let b = TestBroker::start();
    let (input, output, app) = (unique("in"), unique("out"), unique("app"));
    create_topic(&b.bootstrap, &input, PARTITIONS);
    create_topic(&b.bootstrap, &output, PARTITIONS);
    let records: Vec<_> = (0..RECORDS)
        .map(|i| (format!("k{}", i % KEYS), be(1)))
        .collect();
    let p = producer(&b.bootstrap);
    produce(&p, &input, &records);

    let rt = start(&b, &app, "i0", &input, &output);
    wait_for("10k records processed", Duration::from_secs(120), || {
        rt.stats().processed >= RECORDS as u64
    });
    assert!(rt.ready());
    let stats = rt.stop().expect("clean stop");
    assert_eq!(stats.processed, RECORDS as u64);
    assert_eq!(stats.dead_lettered, 0);

    let msgs = read_all(&b.bootstrap, &output, RECORDS, Duration::from_secs(2));
    let expected: BTreeMap<String, u64> = (0..KEYS)
        .map(|k| (format!("k{k}"), (RECORDS / KEYS) as u64))
        .collect();
    assert_prefix_sums(&totals_by_key(&msgs), &expected);

    // The changelog holds the final totals...
    let restored = restored_totals(&b.bootstrap, &app, PARTITIONS);
    assert_eq!(restored, expected);

    // ...and a fresh instance continues from them.
    let rt = start(&b, &app, "i0", &input, &output);
    let more: Vec<_> = (0..KEYS).map(|k| (format!("k{k}"), be(1))).collect();
    produce(&p, &input, &more);
    wait_for("one more record per key", Duration::from_secs(60), || {
        rt.stats().processed >= KEYS as u64
    });
    rt.stop().expect("clean stop");
    let msgs = read_all(
        &b.bootstrap,
        &output,
        RECORDS + KEYS,
        Duration::from_secs(2),
    );
    let expected: BTreeMap<String, u64> = expected.into_iter().map(|(k, n)| (k, n + 1)).collect();
    assert_prefix_sums(&totals_by_key(&msgs), &expected);
}

#[test]
fn poison_records_go_to_the_dlq_with_headers_and_good_ones_are_processed() {
    const GOOD: usize = 5_000;
    const KEYS: usize = 50;
    let b = TestBroker::start();
    let (input, output, app) = (unique("in"), unique("out"), unique("app"));
    create_topic(&b.bootstrap, &input, PARTITIONS);
    create_topic(&b.bootstrap, &output, PARTITIONS);
    // Every 10th record is poison: 3 bytes, or empty.
    let mut records = Vec::new();
    let mut poison = 0;
    for i in 0..GOOD {
        records.push((format!("k{}", i % KEYS), be(1)));
        if i.is_multiple_of(10) {
            let bad = if i.is_multiple_of(20) {
                b"bad".to_vec()
            } else {
                Vec::new()
            };
            records.push((format!("p{i}"), bad));
            poison += 1;
        }
    }
    produce(&producer(&b.bootstrap), &input, &records);

    let rt = start(&b, &app, "i0", &input, &output);
    wait_for("all records processed", Duration::from_secs(120), || {
        rt.stats().processed >= records.len() as u64
    });
    let stats = rt.stop().expect("clean stop");
    assert_eq!(stats.dead_lettered, poison as u64);

    let msgs = read_all(&b.bootstrap, &output, GOOD, Duration::from_secs(2));
    let expected: BTreeMap<String, u64> = (0..KEYS)
        .map(|k| (format!("k{k}"), (GOOD / KEYS) as u64))
        .collect();
    assert_prefix_sums(&totals_by_key(&msgs), &expected);

    let dead = read_all(
        &b.bootstrap,
        &dlq_topic(&input),
        poison,
        Duration::from_secs(2),
    );
    assert_eq!(dead.len(), poison, "every poison record dead-lettered once");
    for m in &dead {
        let h = m.headers().expect("headers");
        let header = |name: &str| {
            let v = h
                .iter()
                .find(|x| x.key == name)
                .unwrap_or_else(|| panic!("header {name}"));
            String::from_utf8(v.value.unwrap_or_default().to_vec()).unwrap()
        };
        assert_eq!(header("dlq.error.class"), "invariant");
        assert!(header("dlq.error.message").contains("value must be 8 bytes"));
        assert_eq!(header("dlq.source.topic"), input);
        assert_eq!(header("dlq.app"), app);
        let partition: i32 = header("dlq.source.partition").parse().unwrap();
        let offset: i64 = header("dlq.source.offset").parse().unwrap();
        assert!((0..PARTITIONS).contains(&partition) && offset >= 0);
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        let i: usize = key[1..].parse().unwrap();
        let want: &[u8] = if i.is_multiple_of(20) { b"bad" } else { b"" };
        assert_eq!(m.payload().unwrap_or_default(), want, "original bytes kept");
    }
}
