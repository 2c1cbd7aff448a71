//! Restarting on the same data directory keeps what was acknowledged, including the effects
//! of compaction (offsets, log start, high watermark) and open-transaction recovery.

mod common;

use std::time::Duration;

use common::{TestBroker, consumer, create_topic, drain_until_quiet, payload, producer, unique};
use rdkafka::Message;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use techpotli_kafka::BrokerConfig;

fn broker_on(dir: &std::path::Path) -> TestBroker {
    TestBroker::start_with(BrokerConfig {
        data_dir: Some(dir.to_owned()),
        ..BrokerConfig::default()
    })
}

fn read_all(bootstrap: &str, topic: &str) -> Vec<(String, String, i64)> {
    let c = consumer(bootstrap, &unique("g"), &[]);
    c.subscribe(&[topic]).unwrap();
    drain_until_quiet(&c, Duration::from_secs(2), Duration::from_secs(20))
        .iter()
        .map(|m| {
            (
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                payload(m),
                m.offset(),
            )
        })
        .collect()
}

#[test]
fn compacted_partition_survives_restart_with_offsets_and_watermarks() {
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("compact-restart");
    let mut b = broker_on(dir.path());
    create_topic(
        &b.bootstrap,
        &topic,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("min.compaction.lag.ms", "0"),
            ("min.cleanable.dirty.ratio", "0.01"),
            ("segment.ms", "100"),
        ],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let p = producer(&b.bootstrap, &[]);
    rt.block_on(async {
        for v in 0..4 {
            for k in 0..5 {
                let (key, value) = (format!("k{k}"), format!("v{v}"));
                p.send(
                    FutureRecord::to(&topic).key(&key).payload(&value),
                    Timeout::Never,
                )
                .await
                .unwrap();
            }
        }
        // The active segment is never cleaned: an append after segment.ms rolls it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        p.send(
            FutureRecord::to(&topic).key("roll").payload("r"),
            Timeout::Never,
        )
        .await
        .unwrap();
    });
    drop(p);
    // Compaction runs on the broker's maintenance tick: wait for it rather than guess a delay.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let before = loop {
        let records = read_all(&b.bootstrap, &topic);
        if records.len() == 6 || std::time::Instant::now() > deadline {
            break records;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        before.len(),
        6,
        "compacted to one record per key, and the roll record: {before:?}"
    );
    let c = consumer(&b.bootstrap, &unique("g"), &[]);
    let marks_before = c
        .fetch_watermarks(&topic, 0, Duration::from_secs(5))
        .unwrap();
    assert_eq!(marks_before, (0, 21));
    drop(c);
    b.stop();

    let b = broker_on(dir.path());
    assert_eq!(
        read_all(&b.bootstrap, &topic),
        before,
        "same records at the same offsets"
    );
    let c = consumer(&b.bootstrap, &unique("g"), &[]);
    assert_eq!(
        c.fetch_watermarks(&topic, 0, Duration::from_secs(5))
            .unwrap(),
        marks_before
    );
    let p = producer(&b.bootstrap, &[]);
    let d = rt
        .block_on(p.send(
            FutureRecord::to(&topic).key("k9").payload("new"),
            Timeout::Never,
        ))
        .unwrap();
    assert_eq!(
        d.offset, 21,
        "appends continue after the old high watermark"
    );
}
