//! The runtime in-process against the embedded broker: exactly-once running totals and state
//! restored by a fresh instance.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    TestBroker, assert_prefix_sums, be, create_topic, produce, producer, read_all, restored_totals,
    totals_by_key, unique, wait_until,
};
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
    wait_until("10k records processed", Duration::from_secs(120), || {
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
    wait_until("one more record per key", Duration::from_secs(60), || {
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
