//! The consume-transform-produce loop of `examples/eos_copy.rs` is SIGKILLed repeatedly and
//! restarted; the output must still hold every input record exactly once.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{
    ChildProc, TestBroker, consumer, create_topic, drain_until_quiet, payload, producer, unique,
};
use rand::RngExt;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;

const RECORDS: usize = 10_000;
const KILLS: usize = 5;

#[test]
fn consume_transform_produce_is_exactly_once_across_kill9_restarts() {
    let b = TestBroker::start();
    let (input, output, group) = (unique("in"), unique("out"), unique("copy"));
    create_topic(&b.bootstrap, &input, 3, &[]);
    create_topic(&b.bootstrap, &output, 3, &[]);
    let p = producer(&b.bootstrap, &[]);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let futures: Vec<_> = (0..RECORDS)
                .map(|i| {
                    let p = p.clone();
                    let input = input.clone();
                    async move {
                        let (key, value) = (format!("k{}", i % 97), format!("id-{i}"));
                        p.send(
                            FutureRecord::to(&input).key(&key).payload(&value),
                            Timeout::Never,
                        )
                        .await
                    }
                })
                .collect();
            for r in futures::future::join_all(futures).await {
                r.expect("input acknowledged");
            }
        });

    let bin = common::example("eos_copy");
    let mut rng = rand::rng();
    for _ in 0..KILLS {
        let mut child = ChildProc::spawn(&bin, &["copy", &b.bootstrap, &input, &output, &group]);
        std::thread::sleep(Duration::from_millis(rng.random_range(800..2500)));
        child.kill9();
    }
    let mut last = ChildProc::spawn(&bin, &["copy", &b.bootstrap, &input, &output, &group, "4"]);
    let deadline = Instant::now() + Duration::from_secs(180);
    while last.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "final copy run did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(last.0.wait().unwrap().success(), "final run exits cleanly");

    let c = consumer(
        &b.bootstrap,
        &unique("verify"),
        &[("isolation.level", "read_committed")],
    );
    c.subscribe(&[&output]).unwrap();
    let msgs = drain_until_quiet(&c, Duration::from_secs(3), Duration::from_secs(120));
    let values: Vec<String> = msgs.iter().map(payload).collect();
    let unique_values: BTreeSet<&String> = values.iter().collect();
    assert_eq!(unique_values.len(), values.len(), "no duplicates");
    let expected: BTreeSet<String> = (0..RECORDS).map(|i| format!("id-{i}|copied")).collect();
    assert_eq!(values.len(), RECORDS, "exactly {RECORDS} outputs");
    assert_eq!(values.into_iter().collect::<BTreeSet<_>>(), expected);
}
