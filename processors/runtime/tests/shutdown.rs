//! SIGTERM mid-stream: the processor binary finishes its batch, commits, exits 0 and loses
//! nothing; a restarted instance continues exactly where it stopped. Its admin endpoints
//! answer `/healthz`, `/readyz` and `/metrics` (with the runtime's series) while it runs.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    Demo, TestBroker, assert_prefix_sums, committed_total, free_port, read_all, spawn_feeder,
    term_and_expect_clean_exit, totals_by_key, wait_committed, wait_until,
};

const RECORDS: usize = 20_000;
const KEYS: usize = 100;
const PARTITIONS: i32 = 3;

fn get(port: u16, path: &str) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match reqwest::get(format!("http://127.0.0.1:{port}{path}")).await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(_) => (0, String::new()),
        }
    })
}

#[test]
fn sigterm_mid_stream_commits_exits_zero_and_loses_nothing() {
    let b = TestBroker::start();
    let demo = Demo::setup(&b, PARTITIONS, "running_total", 200);
    let (input, output, app) = (demo.input.clone(), demo.output.clone(), demo.app.clone());
    let feeder = spawn_feeder(
        &b.bootstrap,
        &input,
        RECORDS,
        KEYS,
        Duration::from_millis(100),
    );
    let port = free_port();
    let mut child = demo.spawn("i0", port);
    wait_until("/readyz", Duration::from_secs(60), || {
        get(port, "/readyz").0 == 200
    });
    assert_eq!(get(port, "/healthz").0, 200);
    wait_until("some progress", Duration::from_secs(60), || {
        committed_total(&b.bootstrap, &app, &input, PARTITIONS) > 2_000
    });
    // Statistics (lag) arrive every 5 s.
    wait_until("lag metric", Duration::from_secs(20), || {
        get(port, "/metrics").1.contains("runtime_consumer_lag{")
    });
    let metrics = get(port, "/metrics").1;
    for series in [
        "runtime_records_in_total{",
        "runtime_records_out_total{",
        "runtime_commits_total{",
        "runtime_transaction_seconds_bucket{",
        "runtime_restore_records_total{",
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from:\n{metrics}"
        );
    }

    // Stop while input is still arriving.
    term_and_expect_clean_exit(&mut child, "demo after SIGTERM");
    let at_stop = committed_total(&b.bootstrap, &app, &input, PARTITIONS);
    println!("committed at SIGTERM: {at_stop} of {RECORDS}");
    assert!(at_stop < RECORDS as i64, "stopped mid-stream");

    let mut child = demo.spawn("i0", port);
    feeder.join().expect("feeder");
    wait_committed(&b.bootstrap, &app, &input, PARTITIONS, RECORDS as i64);
    term_and_expect_clean_exit(&mut child, "restarted demo");

    let msgs = read_all(&b.bootstrap, &output, RECORDS, Duration::from_secs(2));
    let expected: BTreeMap<String, u64> = (0..KEYS)
        .map(|k| (format!("k{k}"), (RECORDS / KEYS) as u64))
        .collect();
    assert_prefix_sums(&totals_by_key(&msgs), &expected);
}
