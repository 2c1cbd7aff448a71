//! Conformance with librdkafka (the rdkafka crate): produce/consume, groups with a crashing
//! member, transaction timeout and compaction (retention: `retention.rs`).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    ChildProc, TestBroker, consumer, create_topic, drain, drain_until_quiet, payload, producer,
    unique,
};
use rdkafka::Message;
use rdkafka::consumer::Consumer;
use rdkafka::producer::{
    BaseRecord, DefaultProducerContext, FutureRecord, Producer, ThreadedProducer,
};
use rdkafka::util::Timeout;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt")
        .block_on(f)
}

#[test]
fn idempotent_produce_10k_keyed_records_reads_back_in_order() {
    let b = TestBroker::start();
    let topic = unique("idem");
    create_topic(&b.bootstrap, &topic, 3, &[]);
    let p = producer(
        &b.bootstrap,
        &[("compression.type", "zstd"), ("batch.num.messages", "1000")],
    );
    let acks = block_on(async {
        let futures: Vec<_> = (0..10_000)
            .map(|i| {
                let key = format!("k{}", i % 100);
                let value = i.to_string();
                let p = p.clone();
                let topic = topic.clone();
                async move {
                    p.send(
                        FutureRecord::to(&topic).key(&key).payload(&value),
                        Timeout::Never,
                    )
                    .await
                }
            })
            .collect();
        futures::future::join_all(futures).await
    });
    assert!(acks.iter().all(Result::is_ok), "every record acknowledged");
    let c = consumer(&b.bootstrap, &unique("g"), &[]);
    c.subscribe(&[&topic]).unwrap();
    let msgs = drain(&c, 10_000, Duration::from_secs(60));
    assert_eq!(msgs.len(), 10_000);
    let values: BTreeSet<u32> = msgs.iter().map(|m| payload(m).parse().unwrap()).collect();
    assert_eq!(values, (0..10_000).collect());
    let mut last_per_key: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut next_offset: HashMap<i32, i64> = HashMap::new();
    for m in &msgs {
        let v: u32 = payload(m).parse().unwrap();
        let prev = last_per_key.insert(m.key().unwrap().to_vec(), v);
        assert!(prev.is_none_or(|p| p < v), "per-key order kept");
        let expected = next_offset.entry(m.partition()).or_insert(0);
        assert_eq!(m.offset(), *expected, "offsets contiguous per partition");
        *expected += 1;
    }
}

/// Latest assignment each `member` child printed.
fn watch_assignments(children: &mut [ChildProc]) -> Arc<Mutex<Vec<Vec<i32>>>> {
    let state = Arc::new(Mutex::new(vec![Vec::new(); children.len()]));
    for (i, c) in children.iter_mut().enumerate() {
        let out = c.0.stdout.take().expect("piped");
        let state = state.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(list) = line.strip_prefix("assigned ") {
                    let parts = list
                        .trim_matches(|c| c == '[' || c == ']')
                        .split(',')
                        .filter_map(|s| s.trim().parse().ok())
                        .collect();
                    state.lock().unwrap()[i] = parts;
                }
            }
        });
    }
    state
}

fn wait_for_split(
    state: &Mutex<Vec<Vec<i32>>>,
    members: &[usize],
    partitions: i32,
    timeout: Duration,
) -> Vec<Vec<i32>> {
    let deadline = Instant::now() + timeout;
    loop {
        let now = state.lock().unwrap().clone();
        let picked: Vec<&Vec<i32>> = members.iter().map(|i| &now[*i]).collect();
        let union: BTreeSet<i32> = picked.iter().flat_map(|v| v.iter().copied()).collect();
        let total: usize = picked.iter().map(|v| v.len()).sum();
        if union == (0..partitions).collect()
            && total == partitions as usize
            && picked.iter().all(|v| !v.is_empty())
        {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "no clean split among {members:?} in time: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn group_members_split_partitions_and_survivors_take_over_after_a_crash() {
    let b = TestBroker::start();
    let topic = unique("grp");
    create_topic(&b.bootstrap, &topic, 6, &[]);
    let group = unique("g");
    let bin = common::example("eos_copy");
    let mut children: Vec<ChildProc> = (0..3)
        .map(|_| ChildProc::spawn_piped(&bin, &["member", &b.bootstrap, &topic, &group]))
        .collect();
    let state = watch_assignments(&mut children);
    wait_for_split(&state, &[0, 1, 2], 6, Duration::from_secs(45));
    children[0].kill9();
    let after = wait_for_split(&state, &[1, 2], 6, Duration::from_secs(45));
    assert_eq!(after[1].len() + after[2].len(), 6);
}

#[test]
fn transaction_past_its_timeout_is_aborted_and_invisible_to_read_committed() {
    let b = TestBroker::start();
    let topic = unique("txto");
    create_topic(&b.bootstrap, &topic, 1, &[]);
    let p: ThreadedProducer<DefaultProducerContext> = common::config(
        &b.bootstrap,
        &[
            ("transactional.id", &unique("tx")),
            ("transaction.timeout.ms", "2000"),
            ("message.timeout.ms", "2000"),
        ],
    )
    .create()
    .unwrap();
    p.init_transactions(Duration::from_secs(10)).unwrap();
    p.begin_transaction().unwrap();
    for i in 0..5 {
        p.send(BaseRecord::<str, str>::to(&topic).payload(&i.to_string()))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    p.flush(Duration::from_secs(5)).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        p.commit_transaction(Duration::from_secs(10)).is_err(),
        "commit after the broker aborted must fail"
    );

    let committed = consumer(
        &b.bootstrap,
        &unique("g"),
        &[("isolation.level", "read_committed")],
    );
    committed.subscribe(&[&topic]).unwrap();
    assert!(
        drain_until_quiet(&committed, Duration::from_secs(2), Duration::from_secs(10)).is_empty()
    );
    let uncommitted = consumer(
        &b.bootstrap,
        &unique("g"),
        &[("isolation.level", "read_uncommitted")],
    );
    uncommitted.subscribe(&[&topic]).unwrap();
    assert_eq!(drain(&uncommitted, 5, Duration::from_secs(10)).len(), 5);
    let (low, high) = uncommitted
        .fetch_watermarks(&topic, 0, Duration::from_secs(5))
        .unwrap();
    assert_eq!((low, high), (0, 6), "five records and one abort marker");
}

#[test]
fn compaction_keeps_the_latest_value_per_key_at_its_original_offset() {
    let b = TestBroker::start();
    let topic = unique("compact");
    create_topic(
        &b.bootstrap,
        &topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("min.compaction.lag.ms", "0"),
            ("delete.retention.ms", "0"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("segment.ms", "100"),
        ],
    );
    let p = producer(&b.bootstrap, &[("compression.type", "snappy")]);
    let mut latest: BTreeMap<String, (String, i64)> = BTreeMap::new();
    block_on(async {
        for version in 0..5 {
            for k in 0..10 {
                let key = format!("k{k}");
                let value = format!("v{version}");
                let d = p
                    .send(
                        FutureRecord::to(&topic).key(&key).payload(&value),
                        Timeout::Never,
                    )
                    .await
                    .unwrap();
                latest.insert(key, (value, d.offset));
            }
        }
        p.send(
            FutureRecord::<str, str>::to(&topic).key("k0"),
            Timeout::Never,
        )
        .await
        .unwrap();
        // The active segment is never cleaned: an append after segment.ms rolls it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let d = p
            .send(
                FutureRecord::to(&topic).key("roll").payload("r"),
                Timeout::Never,
            )
            .await
            .unwrap();
        latest.insert("roll".to_owned(), ("r".to_owned(), d.offset));
    });
    latest.remove("k0");
    // Compaction runs on the broker's maintenance tick. Apache Kafka removes a tombstone only at
    // a pass after the one that compacted it, and passes run only while the log is dirty: each
    // poll appends a new "roll" (rolling the segment again) so the cleaner keeps going. Settled
    // means the tombstone is gone and every other key is there once, at its latest offset.
    let deadline = Instant::now() + Duration::from_secs(90);
    let others = |m: &BTreeMap<String, (String, i64)>| {
        m.iter()
            .filter(|(k, _)| *k != "roll")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let (msgs, got) = loop {
        let c = consumer(&b.bootstrap, &unique("g"), &[]);
        c.subscribe(&[&topic]).unwrap();
        let msgs = drain_until_quiet(&c, Duration::from_secs(2), Duration::from_secs(20));
        let got: BTreeMap<String, (String, i64)> = msgs
            .iter()
            .map(|m| {
                (
                    String::from_utf8(m.key().unwrap().to_vec()).unwrap(),
                    (payload(m), m.offset()),
                )
            })
            .collect();
        let rolls = msgs.iter().filter(|m| m.key() == Some(b"roll")).count();
        if msgs.len() - rolls == 9 || Instant::now() > deadline {
            break (msgs, got);
        }
        let d = block_on(p.send(
            FutureRecord::to(&topic).key("roll").payload("r"),
            Timeout::Never,
        ))
        .unwrap();
        latest.insert("roll".to_owned(), ("r".to_owned(), d.offset));
        std::thread::sleep(Duration::from_millis(300));
    };
    let live: Vec<String> = msgs
        .iter()
        .filter(|m| m.key() != Some(b"roll"))
        .map(|m| String::from_utf8_lossy(m.key().unwrap()).into_owned())
        .collect();
    assert_eq!(
        live.len(),
        9,
        "one record per live key, tombstone gone: {got:?}"
    );
    assert_eq!(others(&got), others(&latest));
    assert_eq!(
        got.get("roll"),
        latest.get("roll"),
        "the newest roll record"
    );
}
