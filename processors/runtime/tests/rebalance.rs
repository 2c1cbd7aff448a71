//! Scaling 1 → 3 → 1 instances mid-stream: partitions move between instances (eager
//! rebalance: revoke all, assign), each new owner restores the partition's state from the
//! changelog before processing, and the output stays exactly once.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    TestBroker, assert_prefix_sums, create_topic, read_all, spawn_feeder, totals_by_key, unique,
    wait_until,
};
use techpotli_runtime::demo::RunningTotal;
use techpotli_runtime::{Runtime, RuntimeConfig};

const RECORDS: usize = 10_000;
const KEYS: usize = 100;

#[test]
fn scaling_one_three_one_keeps_totals_exactly_once() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let b = TestBroker::start();
    let (input, output, app) = (unique("in"), unique("out"), unique("app"));
    create_topic(&b.bootstrap, &input, 6);
    create_topic(&b.bootstrap, &output, 6);
    let start = |instance: &str| {
        let mut cfg = RuntimeConfig::new(&b.bootstrap, &app, instance, &[input.as_str()]);
        cfg.session_timeout = Duration::from_secs(6);
        let p = RunningTotal {
            output: output.clone(),
        };
        Runtime::spawn(cfg, p).expect("spawn")
    };
    let feeder = spawn_feeder(
        &b.bootstrap,
        &input,
        RECORDS,
        KEYS,
        Duration::from_millis(500),
    );

    let a = start("a");
    wait_until("a ready", Duration::from_secs(30), || a.ready());
    std::thread::sleep(Duration::from_secs(2));
    let (second, third) = (start("b"), start("c"));
    wait_until("b and c processing", Duration::from_secs(30), || {
        second.stats().processed > 0 && third.stats().processed > 0
    });
    std::thread::sleep(Duration::from_secs(2));
    let b_stats = second.stop().expect("b stops cleanly");
    let c_stats = third.stop().expect("c stops cleanly");
    // b and c were static members: their partitions return to a once their sessions time out.
    feeder.join().expect("feeder");
    let others = b_stats.processed + c_stats.processed;
    wait_until("every record processed", Duration::from_secs(90), || {
        a.stats().processed + others >= RECORDS as u64
    });
    let a_stats = a.stop().expect("a stops cleanly");
    println!("a {a_stats:?}, b {b_stats:?}, c {c_stats:?}");
    assert!(b_stats.processed > 0 && c_stats.processed > 0 && a_stats.processed > 0);
    assert_eq!(
        a_stats.processed + others,
        RECORDS as u64,
        "each record committed by exactly one instance"
    );

    let msgs = read_all(&b.bootstrap, &output, RECORDS, Duration::from_secs(2));
    let expected: BTreeMap<String, u64> = (0..KEYS)
        .map(|k| (format!("k{k}"), (RECORDS / KEYS) as u64))
        .collect();
    assert_prefix_sums(&totals_by_key(&msgs), &expected);
}
