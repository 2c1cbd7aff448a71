//! Time and size retention as on Apache Kafka: whole segments go at the retention check, by the
//! segment's largest timestamp, and a segment whose records carry no timestamp is aged by when
//! it was written. Records with old or missing timestamps are readable once acknowledged.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{TestBroker, consumer, create_topic, drain_until_quiet, payload, producer, unique};
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};
use techpotli_kafka::BrokerConfig;
use techpotli_testkit::wait_until;

const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A broker whose retention check runs every `check` (Kafka's default is 5 minutes).
fn broker(check: Duration) -> TestBroker {
    TestBroker::start_with(BrokerConfig {
        retention_check_interval: check,
        ..BrokerConfig::default()
    })
}

/// Produces one batch of `(value, timestamp)` records to partition 0 over the wire (librdkafka
/// cannot send a timestamp of -1) and checks it was acknowledged.
fn produce_raw(bootstrap: &str, topic: &str, records: &[(&str, i64)]) {
    let keyed: Vec<_> = records.iter().map(|(v, ts)| (Some("k"), *v, *ts)).collect();
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(common::wire::batch(&keyed))),
                ]),
        ]);
    let resp = common::wire::call(bootstrap, 9, &req);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "produce to {topic} acknowledged");
}

/// Produces `(value, timestamp)` records one batch each through librdkafka.
fn produce_at(bootstrap: &str, topic: &str, records: &[(&str, i64)]) {
    let p = producer(bootstrap, &[("linger.ms", "0")]);
    futures::executor::block_on(async {
        for (v, ts) in records {
            let r = FutureRecord::<str, str>::to(topic)
                .key("k")
                .payload(v)
                .partition(0)
                .timestamp(*ts);
            p.send(r, Timeout::Never).await.expect("acknowledged");
        }
    });
}

fn watermarks(bootstrap: &str, topic: &str) -> (i64, i64) {
    consumer(bootstrap, &unique("wm"), &[])
        .fetch_watermarks(topic, 0, Duration::from_secs(5))
        .unwrap()
}

/// Every value readable from the log start of partition 0.
fn read_all(bootstrap: &str, topic: &str) -> Vec<String> {
    let c = consumer(bootstrap, &unique("read"), &[]);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    drain_until_quiet(&c, Duration::from_secs(2), Duration::from_secs(20))
        .iter()
        .map(payload)
        .collect()
}

#[test]
fn records_without_a_timestamp_outlive_retention_checks() {
    let b = broker(Duration::from_millis(100));
    let untimed = unique("untimed");
    create_topic(&b.bootstrap, &untimed, 1, &[("retention.ms", "3600000")]);
    produce_raw(
        &b.bootstrap,
        &untimed,
        &[("a", -1), ("b", -1), ("c", -1), ("d", -1), ("e", -1)],
    );
    // A witness that retention checks do run: one old segment per batch, then a new one.
    let witness = unique("witness");
    create_topic(
        &b.bootstrap,
        &witness,
        1,
        &[("retention.ms", "3600000"), ("segment.bytes", "1")],
    );
    produce_raw(&b.bootstrap, &witness, &[("old", 1_000)]);
    produce_raw(&b.bootstrap, &witness, &[("new", now_ms())]);
    wait_until(
        "a retention check deleted the witness's old segment",
        Duration::from_secs(20),
        || watermarks(&b.bootstrap, &witness) == (1, 2),
    );
    std::thread::sleep(Duration::from_millis(500)); // several more checks
    assert_eq!(watermarks(&b.bootstrap, &untimed), (0, 5));
    assert_eq!(read_all(&b.bootstrap, &untimed), ["a", "b", "c", "d", "e"]);
    assert_eq!(read_all(&b.bootstrap, &witness), ["new"]);
}

#[test]
fn old_records_are_readable_once_acknowledged() {
    // Kafka's default check interval: nothing may vanish between the ack and the next check.
    let b = TestBroker::start();
    let topic = unique("backfill");
    create_topic(&b.bootstrap, &topic, 1, &[]);
    let eight_days_ago = now_ms() - 8 * DAY;
    produce_at(
        &b.bootstrap,
        &topic,
        &[
            ("1970", 1_000),
            ("old-1", eight_days_ago),
            ("old-2", eight_days_ago + 1),
        ],
    );
    // The broker's maintenance tick (compaction, timers) runs every 200 ms; let it run often.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(watermarks(&b.bootstrap, &topic), (0, 3));
    assert_eq!(read_all(&b.bootstrap, &topic), ["1970", "old-1", "old-2"]);
}

#[test]
fn a_check_deletes_whole_segments_by_their_largest_timestamp() {
    let b = broker(Duration::from_millis(100));
    let three_days_ago = now_ms() - 3 * DAY;
    let day = &[("retention.ms", "86400000")];
    // Old records sharing a segment with a new one stay with it. (One batch: a check between
    // separate appends could find the segment holding only the old ones and delete it, as
    // Kafka would.)
    let shared = unique("shared");
    create_topic(&b.bootstrap, &shared, 1, day);
    produce_raw(
        &b.bootstrap,
        &shared,
        &[
            ("old-1", three_days_ago),
            ("old-2", three_days_ago),
            ("new", now_ms()),
        ],
    );
    // Stamped by the broker on append: kept for the full retention whatever the client said.
    let stamped = unique("stamped");
    create_topic(
        &b.bootstrap,
        &stamped,
        1,
        &[
            ("retention.ms", "86400000"),
            ("message.timestamp.type", "LogAppendTime"),
        ],
    );
    produce_at(&b.bootstrap, &stamped, &[("1970", 1_000)]);
    // One segment per batch: the old ones go, the new one stays.
    let rolled = unique("rolled");
    create_topic(
        &b.bootstrap,
        &rolled,
        1,
        &[("retention.ms", "86400000"), ("segment.bytes", "1")],
    );
    produce_at(
        &b.bootstrap,
        &rolled,
        &[
            ("old-1", three_days_ago),
            ("old-2", three_days_ago),
            ("new", now_ms()),
        ],
    );
    wait_until(
        "a retention check deleted the old segments",
        Duration::from_secs(20),
        || watermarks(&b.bootstrap, &rolled) == (2, 3),
    );
    std::thread::sleep(Duration::from_millis(500)); // several more checks
    assert_eq!(read_all(&b.bootstrap, &rolled), ["new"]);
    assert_eq!(watermarks(&b.bootstrap, &shared), (0, 3));
    assert_eq!(read_all(&b.bootstrap, &shared), ["old-1", "old-2", "new"]);
    assert_eq!(read_all(&b.bootstrap, &stamped), ["1970"]);
}

#[test]
fn size_retention_deletes_whole_segments_oldest_first() {
    let b = broker(Duration::from_millis(100));
    let topic = unique("sized");
    // Each batch is its own segment; keep at most ~3 of them.
    create_topic(
        &b.bootstrap,
        &topic,
        1,
        &[("retention.bytes", "300"), ("segment.bytes", "1")],
    );
    let now = now_ms();
    let values: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    let records: Vec<(&str, i64)> = values.iter().map(|v| (v.as_str(), now)).collect();
    produce_at(&b.bootstrap, &topic, &records);
    wait_until(
        "size retention moved the log start",
        Duration::from_secs(20),
        || watermarks(&b.bootstrap, &topic).0 > 0,
    );
    let (low, high) = watermarks(&b.bootstrap, &topic);
    assert_eq!(high, 10);
    assert!(low < 10, "the active segment stays: {low}");
    let expect: Vec<String> = values[low as usize..].to_vec();
    assert_eq!(read_all(&b.bootstrap, &topic), expect);
}
