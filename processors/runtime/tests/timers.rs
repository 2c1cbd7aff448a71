//! Durable timers. Wall-clock timers scheduled before a SIGKILL fire exactly once after the
//! restart, even when a second SIGKILL lands while they are firing; stream-time timers fire
//! when record timestamps pass them, not by the clock.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{
    Demo, TestBroker, be, create_topic, free_port, produce, producer, read_all, read_all_with,
    term_and_expect_clean_exit, unique, wait_committed, wait_until,
};
use rdkafka::Message;
use rdkafka::producer::{BaseRecord, Producer};
use techpotli_runtime::demo::DelayedEcho;
use techpotli_runtime::{Runtime, RuntimeConfig};

const PARTITIONS: i32 = 3;

fn fired_per_key(msgs: &[rdkafka::message::OwnedMessage]) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for m in msgs {
        assert_eq!(m.payload(), Some(&b"fired"[..]));
        *n.entry(String::from_utf8_lossy(m.key().unwrap()).into_owned())
            .or_default() += 1;
    }
    n
}

#[test]
fn timers_scheduled_before_kill9_fire_exactly_once_after_restart() {
    const KEYS: usize = 300;
    let b = TestBroker::start();
    // 10 ms a timer: firing 300 timers keeps one transaction open ~3 s.
    let demo = Demo::setup(&b, PARTITIONS, "delayed_echo", 10_000);
    let (input, output, app) = (demo.input.clone(), demo.output.clone(), demo.app.clone());
    let port = free_port();
    let mut child = demo.spawn("i0", port);
    // Every key's timer is due 4 s after its record is processed.
    let records: Vec<_> = (0..KEYS).map(|k| (format!("t{k}"), be(4_000))).collect();
    produce(&producer(&b.bootstrap), &input, &records);
    wait_committed(&b.bootstrap, &app, &input, PARTITIONS, KEYS as i64);
    child.kill9();
    println!("SIGKILL 1: timers scheduled and committed, none due yet");

    let mut child = demo.spawn("i0", port);
    // The timers come due while it restarts; wait until firing has begun (uncommitted
    // outputs appear) and kill it in the middle.
    wait_until("firing under way", Duration::from_secs(60), || {
        !read_all_with(&b.bootstrap, &output, 1, Duration::ZERO, "read_uncommitted").is_empty()
    });
    child.kill9();
    let committed_before = read_all(&b.bootstrap, &output, 0, Duration::from_millis(500)).len();
    println!("SIGKILL 2 while firing: {committed_before} firings committed before it");

    let mut child = demo.spawn("i0", port);
    let msgs = read_all(&b.bootstrap, &output, KEYS, Duration::from_secs(3));
    term_and_expect_clean_exit(&mut child, "delayed_echo");
    let fired = fired_per_key(&msgs);
    assert_eq!(fired.len(), KEYS, "every timer fired");
    assert!(
        fired.values().all(|n| *n == 1),
        "a timer fired more than once: {:?}",
        fired.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    let all = read_all_with(
        &b.bootstrap,
        &output,
        KEYS,
        Duration::from_secs(1),
        "read_uncommitted",
    );
    println!(
        "{KEYS} timers fired exactly once; {} firings were written by the killed, aborted transaction",
        all.len() - KEYS
    );
}

#[test]
fn stream_time_timers_fire_when_record_time_passes_them() {
    let b = TestBroker::start();
    let (input, output, app) = (unique("in"), unique("out"), unique("app"));
    // One partition: stream time is per partition.
    create_topic(&b.bootstrap, &input, 1);
    create_topic(&b.bootstrap, &output, 1);
    let cfg = RuntimeConfig::new(&b.bootstrap, &app, "i0", &[input.as_str()]);
    let rt = Runtime::spawn(
        cfg,
        DelayedEcho {
            output: output.clone(),
            stream_time: true,
        },
    )
    .expect("spawn");
    let p = producer(&b.bootstrap);
    // Timestamps are offsets from an hour ago: records stamped near 1970 would be past the
    // topic's 7-day retention.ms, and the broker's cleaner may delete them before they are read.
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        - 3_600_000;
    // (key, timestamp, delay): a is due at 1_500, b at 2_200, c at 9_000 (plus base).
    for (key, ts, delay) in [
        ("a", 1_000i64, 500u64),
        ("b", 1_200, 1_000),
        ("c", 1_600, 7_400),
        ("d", 2_300, 100_000),
    ] {
        let v = be(delay);
        p.send(
            BaseRecord::to(&input)
                .key(key)
                .payload(&v)
                .timestamp(base + ts),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    }
    p.flush(Duration::from_secs(10)).expect("flush");
    wait_until("4 records", Duration::from_secs(120), || {
        rt.stats().processed >= 4
    });
    // Stream time is base + 2_300: a and b fired, c and d did not, however long the wall
    // clock runs.
    let msgs = read_all(&b.bootstrap, &output, 2, Duration::from_secs(2));
    let fired = fired_per_key(&msgs);
    assert_eq!(fired.keys().collect::<Vec<_>>(), vec!["a", "b"]);
    let stats = rt.stop().expect("clean stop");
    assert_eq!(stats.timers_fired, 2);
}
