//! The acceptance test of the runtime (first increment): `examples/running_total.rs` runs as
//! a child process and is SIGKILLed at random moments while input is still arriving, then
//! restarted with the same instance id (so each restart fences the killed transaction). The
//! committed output must be, for every key, exactly the prefix sums 1..n, and a fresh
//! instance must restore the final totals from the changelog and continue from them.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{
    ChildProc, TestBroker, assert_prefix_sums, be, committed_total, create_topic, produce,
    producer, read_all, read_all_with, restored_totals, spawn_feeder, totals_by_key, unique,
    wait_for,
};
use rand::RngExt;
use techpotli_runtime::demo::RunningTotal;
use techpotli_runtime::{Runtime, RuntimeConfig};

const RECORDS: usize = 20_000;
const KEYS: usize = 200;
const PARTITIONS: i32 = 3;
const MIN_KILLS: usize = 6;

#[test]
fn running_totals_survive_repeated_kill9_exactly_once() {
    let b = TestBroker::start();
    let (input, output, app) = (unique("in"), unique("out"), unique("app"));
    create_topic(&b.bootstrap, &input, PARTITIONS);
    create_topic(&b.bootstrap, &output, PARTITIONS);

    // Input keeps arriving during the kills: 40 chunks of 500, one every 250 ms.
    let feeder = spawn_feeder(
        &b.bootstrap,
        &input,
        RECORDS,
        KEYS,
        Duration::from_millis(250),
    );

    let bin = common::example("running_total");
    let args = [b.bootstrap.as_str(), &input, &output, &app, "i0"];
    let mut rng = rand::rng();
    let mut kills = 0;
    while kills < MIN_KILLS {
        // 250 µs a record: a 1000-record transaction stays open ~250 ms, so kills land
        // inside transactions as well as between them.
        let mut child = ChildProc::spawn_env(&bin, &args, &[("RUNNING_TOTAL_DELAY_US", "250")]);
        std::thread::sleep(Duration::from_millis(rng.random_range(700..3000)));
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "runtime exited on its own before the kill"
        );
        child.kill9();
        kills += 1;
        let done = committed_total(&b.bootstrap, &app, &input, PARTITIONS);
        println!("kill {kills}: input offsets committed so far {done}");
    }
    feeder.join().expect("feeder");
    println!("killed the runtime {kills} times with SIGKILL");

    let mut last = ChildProc::spawn(&bin, &[args.as_slice(), &["5"]].concat());
    let deadline = Instant::now() + Duration::from_secs(180);
    while last.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "final run did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(last.0.wait().unwrap().success(), "final run exits cleanly");

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
    let restored = restored_totals(&b.bootstrap, &app, PARTITIONS);
    assert_eq!(restored, expected);

    // A fresh instance (same instance id: it takes the static member's place) restores and
    // continues from the final totals.
    let mut cfg = RuntimeConfig::new(&b.bootstrap, &app, "i0", &[input.as_str()]);
    cfg.session_timeout = Duration::from_secs(6);
    let rt = Runtime::spawn(
        cfg,
        RunningTotal {
            output: output.clone(),
        },
    )
    .expect("spawn");
    let more: Vec<_> = (0..KEYS).map(|k| (format!("k{k}"), be(1))).collect();
    produce(&producer(&b.bootstrap), &input, &more);
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
    println!("survived {kills} kills: {RECORDS} records exactly once over {KEYS} keys");
}
