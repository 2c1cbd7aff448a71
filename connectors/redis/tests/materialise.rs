//! The Redis sink writes `stock:{sku}` and `order:{id}` hashes from Avro records on the
//! embedded broker; an undecodable record goes to `<topic>.dlq` with the runtime's headers
//! and the batch continues.

mod common;

use std::time::Duration;

use common::{Env, level, order, status};
use rdkafka::Message;
use rdkafka::message::Headers;
use techpotli_runtime::sink::SinkConfig;

const SINK: &str = "sink-redis-test";

#[test]
fn stock_and_order_hashes_are_materialised_and_garbage_dead_lettered() {
    let env = Env::start();
    let t = env.topics.clone();
    let mut placed = Vec::new();
    let mut statuses = Vec::new();
    for i in 0..40 {
        let id = format!("o{i}");
        placed.push((id.clone(), env.encode(&t.placed, &order(&id, &["A", "B"]))));
        for seq in 1..=3 {
            statuses.push((id.clone(), env.encode(&t.status, &status(&id, seq))));
        }
    }
    statuses.insert(10, ("junk".into(), b"\x00\x00\x00\x00".to_vec()));
    env.produce(&t.status, &statuses);
    env.produce(&t.placed, &placed);
    let levels: Vec<_> = (0..100)
        .map(|i| {
            let sku = format!("S{}", i % 10);
            (sku.clone(), env.encode(&t.levels, &level(&sku, 1000, i)))
        })
        .collect();
    env.produce(&t.levels, &levels);

    let mut cfg = SinkConfig::new(&env.broker.bootstrap, SINK, "i0", &t.all());
    cfg.max_batch = 50;
    let runner = env.spawn_sink(cfg);
    env.wait_caught_up(SINK, Duration::from_secs(60));
    let stats = runner.stop().expect("clean stop");
    assert_eq!(stats.dead_lettered, 1, "{stats:?}");

    assert_eq!(env.keys("order:*").len(), 40);
    let o = env.hash("order:o7");
    assert_eq!(o["status"], "CONFIRMED");
    assert_eq!(o["status_sequence"], "3");
    assert_eq!(o["total_minor"], "5000");
    assert_eq!(o["user_id"], "user-o7");
    assert!(o["lines"].contains("\"sku\":\"B\""));
    assert_eq!(env.keys("stock:*").len(), 10);
    for k in 0..10 {
        let s = env.hash(&format!("stock:S{k}"));
        assert_eq!(
            s["reserved"],
            (90 + k).to_string(),
            "the last level of S{k}"
        );
        assert_eq!(s["available"], (1000 - 90 - k).to_string());
    }
    let dead = env.read_all(&format!("{}.dlq", t.status), Duration::from_secs(2));
    assert_eq!(dead.len(), 1);
    let h = dead[0].headers().unwrap();
    let class = h.iter().find(|x| x.key == "dlq.error.class").unwrap();
    assert_eq!(class.value, Some(&b"not-framed"[..]));
    assert!(h.iter().any(|x| x.key == "dlq.source.offset"));
    assert_eq!(dead[0].payload(), Some(&b"\x00\x00\x00\x00"[..]));
}
