//! The acceptance test of the runtime: two instances of the `demo` processor binary (a
//! per-key running total) share one group while 100k records over 1k keys arrive; a random
//! instance is SIGKILLed at least 10 times and restarted with its instance id (fencing the
//! killed transaction). A read_committed consumer must then see, for every key, exactly the
//! totals 1..=n — no gap, no duplicate — and the changelog must restore the final totals.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    Demo, TestBroker, assert_prefix_sums, committed_total, read_all, read_all_with,
    restored_totals, spawn_feeder, totals_by_key, two_instances_with_kills,
};

const RECORDS: usize = 100_000;
const KEYS: usize = 1_000;
const PARTITIONS: i32 = 4;
const MIN_KILLS: usize = 10;

#[test]
fn two_instances_survive_repeated_kill9_exactly_once() {
    let b = TestBroker::start();
    // 100 µs a record: a 1000-record transaction stays open ~100 ms, so kills land
    // inside transactions as well as between them.
    let demo = Demo::setup(&b, PARTITIONS, "running_total", 100);
    let (input, output, app) = (demo.input.clone(), demo.output.clone(), demo.app.clone());

    // Input keeps arriving during the kills: 200 chunks of 500, one every 100 ms.
    let feeder = spawn_feeder(
        &b.bootstrap,
        &input,
        RECORDS,
        KEYS,
        Duration::from_millis(100),
    );
    let (bootstrap, total) = (b.bootstrap.clone(), RECORDS as i64);
    two_instances_with_kills(&demo, MIN_KILLS, || {
        committed_total(&bootstrap, &app, &input, PARTITIONS) >= total
    });
    feeder.join().expect("feeder");
    println!("killed an instance {MIN_KILLS} times with SIGKILL");

    let msgs = read_all(&b.bootstrap, &output, RECORDS, Duration::from_secs(3));
    let expected: BTreeMap<String, u64> = (0..KEYS)
        .map(|k| (format!("k{k}"), (RECORDS / KEYS) as u64))
        .collect();
    assert_prefix_sums(&totals_by_key(&msgs), &expected);
    assert_eq!(msgs.len(), RECORDS);
    let all = read_all_with(
        &b.bootstrap,
        &output,
        RECORDS,
        Duration::from_secs(2),
        "read_uncommitted",
    );
    println!(
        "output records written by aborted (killed) transactions: {}",
        all.len() - RECORDS
    );

    // The changelog holds exactly the final totals.
    assert_eq!(restored_totals(&b.bootstrap, &app, PARTITIONS), expected);
    println!("survived {MIN_KILLS} kills: {RECORDS} records exactly once over {KEYS} keys");
}
