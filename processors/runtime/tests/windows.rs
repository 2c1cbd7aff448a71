//! Event-time windows end to end: two `demo` instances (`WindowedCount`, tumbling 1 s windows
//! with 500 ms grace) count a generated stream with out-of-order and late records while one
//! of them is SIGKILLed five times, mid-window. Every window's final count must equal a
//! reference computed here from the same records in partition order, once per window and key;
//! exactly the late records must be on `<input>.late`, naming the window they missed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Demo, TestBroker, producer, read_all, read_quiet, two_instances_with_kills};
use rand::{RngExt, SeedableRng};
use rdkafka::Message;
use rdkafka::message::Headers;
use rdkafka::producer::{BaseRecord, Producer};

const PARTITIONS: i32 = 3;
const PER_PARTITION: usize = 2_000;
const WINDOW: i64 = 1_000;
const GRACE: i64 = 500;
const KILLS: usize = 5;

/// One generated record: partition, key, event time, id.
#[derive(Clone)]
struct Rec {
    partition: i32,
    key: String,
    ts: i64,
    id: String,
}

/// Per partition (each with keys of its own: windows are per task): event time advancing ~20 ms a record with ±400 ms of disorder (within
/// grace), and every 40th record 1.5–3 s behind (late); the last record of each partition is
/// far ahead, closing every window before it.
fn generate(base: i64) -> Vec<Rec> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut out = Vec::new();
    for p in 0..PARTITIONS {
        for i in 0..PER_PARTITION {
            let now = base + i as i64 * 20;
            let ts = if i % 40 == 39 {
                now - rng.random_range(1_500..3_000)
            } else {
                now + rng.random_range(-400..400)
            };
            out.push(Rec {
                partition: p,
                key: format!("p{p}-k{}", rng.random_range(0..4)),
                ts,
                id: format!("p{p}-{i}"),
            });
        }
        out.push(Rec {
            partition: p,
            key: "flush".into(),
            ts: base + 3_600_000,
            id: format!("p{p}-flush"),
        });
    }
    out
}

/// The windows' final counts (`"<key>@<start>"` → count) and the ids of late records, from
/// the records in each partition's order: a record is late when its window's end is at or
/// below the partition's largest event time so far minus the grace.
fn reference(recs: &[Rec]) -> (BTreeMap<String, u64>, BTreeSet<String>) {
    let mut counts = BTreeMap::new();
    let mut late = BTreeSet::new();
    let mut max: BTreeMap<i32, i64> = BTreeMap::new();
    for r in recs {
        let start = r.ts.div_euclid(WINDOW) * WINDOW;
        let seen = max.entry(r.partition).or_insert(i64::MIN);
        if *seen != i64::MIN && start + WINDOW <= *seen - GRACE {
            late.insert(r.id.clone());
        } else if r.key != "flush" {
            *counts.entry(format!("{}@{start}", r.key)).or_insert(0) += 1;
        }
        *seen = (*seen).max(r.ts);
    }
    (counts, late)
}

#[test]
fn window_counts_are_exact_and_late_records_go_to_late_across_kill9() {
    let b = TestBroker::start();
    let demo = Demo::setup(&b, PARTITIONS, "windowed_count", 200)
        .with_env("TECHPOTLI_DEMO_WINDOW_MS", &WINDOW.to_string())
        .with_env("TECHPOTLI_DEMO_GRACE_MS", &GRACE.to_string());
    // An hour ago, on a window boundary: inside the topics' retention, clear of the present.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let base = (now - 3_600_000).div_euclid(WINDOW) * WINDOW;
    let recs = generate(base);
    let (counts, late) = reference(&recs);
    assert!(
        late.len() > 100 && counts.len() > 100,
        "the stream exercises both"
    );

    let (bootstrap, input) = (b.bootstrap.clone(), demo.input.clone());
    let feed = recs.clone();
    let feeder = std::thread::spawn(move || {
        let p = producer(&bootstrap);
        for chunk in feed.chunks(400) {
            for r in chunk {
                let mut rec = BaseRecord::to(&input)
                    .key(&r.key)
                    .payload(&r.id)
                    .partition(r.partition)
                    .timestamp(r.ts);
                while let Err((_, back)) = p.send(rec) {
                    rec = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            p.flush(Duration::from_secs(30)).expect("acknowledged");
            std::thread::sleep(Duration::from_millis(150));
        }
    });
    let (bootstrap, output) = (b.bootstrap.clone(), demo.output.clone());
    let want = counts.len();
    two_instances_with_kills(&demo, KILLS, || {
        read_quiet(&bootstrap, &output, Duration::from_millis(500)).len() >= want
    });
    feeder.join().expect("feeder");

    let out = read_all(&b.bootstrap, &demo.output, want, Duration::from_secs(3));
    let mut got: BTreeMap<String, u64> = BTreeMap::new();
    for m in &out {
        let key = String::from_utf8_lossy(m.key().unwrap()).into_owned();
        let n = u64::from_be_bytes(m.payload().unwrap().try_into().unwrap());
        assert!(
            got.insert(key.clone(), n).is_none(),
            "window {key} emitted twice"
        );
    }
    assert_eq!(got, counts, "final count per window and key");

    let late_topic = format!("{}.late", demo.input);
    let late_msgs = read_all(
        &b.bootstrap,
        &late_topic,
        late.len(),
        Duration::from_secs(2),
    );
    let mut late_ids = BTreeSet::new();
    for m in &late_msgs {
        let id = String::from_utf8_lossy(m.payload().unwrap()).into_owned();
        assert!(late_ids.insert(id.clone()), "late record {id} sent twice");
        let headers = m.headers().expect("late headers");
        let start = headers
            .iter()
            .find(|h| h.key == "window-start")
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).parse::<i64>().unwrap())
            .expect("window-start header");
        let ts = m.timestamp().to_millis().unwrap();
        assert_eq!(
            start,
            ts.div_euclid(WINDOW) * WINDOW,
            "{id}: the window it missed"
        );
    }
    assert_eq!(late_ids, late);
}
