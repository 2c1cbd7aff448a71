//! The MySQL sink materialises orders, lines, status history and stock levels from Avro records
//! on the embedded broker; records it cannot apply go to `<topic>.dlq` with the runtime's
//! headers and the rest of the batch is applied.

mod common;

use std::time::Duration;

use common::{Env, level, order, status};
use rdkafka::Message;
use rdkafka::message::Headers;
use techpotli_runtime::sink::SinkConfig;

const SINK: &str = "sink-mysql-test";

fn header(m: &rdkafka::message::OwnedMessage, name: &str) -> String {
    let h = m.headers().expect("headers");
    let v = h.iter().find(|x| x.key == name).expect(name);
    String::from_utf8(v.value.unwrap_or_default().to_vec()).unwrap()
}

#[test]
fn orders_history_and_stock_are_materialised_and_bad_records_dead_lettered() {
    let env = Env::start();
    let t = env.topics.clone();
    let mut placed = Vec::new();
    let mut statuses = Vec::new();
    for i in 0..50 {
        let id = format!("o{i}");
        placed.push((id.clone(), env.encode(&t.placed, &order(&id, &["A", "B"]))));
        for seq in 1..=3 {
            statuses.push((id.clone(), env.encode(&t.status, &status(&id, seq))));
        }
    }
    // Not applicable: undecodable bytes, two lines with one SKU (a constraint), a bad currency.
    placed.push((
        "bad-dup".into(),
        env.encode(&t.placed, &order("bad-dup", &["A", "A"])),
    ));
    let mut bad_currency = order("bad-cur", &["A"]);
    bad_currency.currency = "inr".into();
    placed.push(("bad-cur".into(), env.encode(&t.placed, &bad_currency)));
    statuses.push(("garbage".into(), b"not avro".to_vec()));
    // Status 3 before placed for one order: the order row is created by its status.
    env.produce(&t.status, &statuses);
    env.produce(&t.placed, &placed);
    let levels: Vec<_> = (0..200)
        .map(|i| {
            let sku = format!("S{}", i % 20);
            (sku.clone(), env.encode(&t.levels, &level(&sku, 1000, i)))
        })
        .collect();
    env.produce(&t.levels, &levels);
    // A tombstone: the SKU is gone (the batch holding it takes the per-record path).
    env.produce_tombstone(&t.levels, "S0");

    let mut cfg = SinkConfig::new(&env.broker.bootstrap, SINK, "i0", &t.all());
    cfg.max_batch = 64;
    let runner = env.spawn_sink(cfg);
    env.wait_caught_up(SINK, Duration::from_secs(60));
    let stats = runner.stop().expect("clean stop");
    assert_eq!(stats.dead_lettered, 3, "{stats:?}");

    assert_eq!(env.count("SELECT COUNT(*) FROM orders"), 50);
    assert_eq!(env.count("SELECT COUNT(*) FROM order_lines"), 100);
    assert_eq!(env.count("SELECT COUNT(*) FROM order_status_history"), 150);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM orders WHERE status = 'CONFIRMED' AND status_sequence = 3 AND total_minor = 5000 AND currency = 'INR' AND user_id = CONCAT('user-', order_id)"),
        50
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM orders WHERE order_id LIKE 'bad%'"),
        0,
        "no partial rows of a rejected record"
    );
    // The last level per SKU: i = 180..199 → reserved = i.
    assert_eq!(env.count("SELECT COUNT(*) FROM stock_levels"), 19);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM stock_levels WHERE sku = 'S0'"),
        0
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM stock_levels WHERE reserved >= 180 AND available = 1000 - reserved AND on_hand = 1000"),
        19
    );

    let dead_placed = env.read_all(&format!("{}.dlq", t.placed), Duration::from_secs(2));
    let mut classes: Vec<String> = dead_placed
        .iter()
        .map(|m| header(m, "dlq.error.class"))
        .collect();
    classes.sort();
    assert_eq!(classes, ["constraint", "invariant"]);
    for m in &dead_placed {
        assert_eq!(header(m, "dlq.source.topic"), t.placed);
        assert_eq!(header(m, "dlq.app"), SINK);
        assert!(!header(m, "dlq.error.message").is_empty());
        header(m, "dlq.source.offset").parse::<i64>().unwrap();
    }
    let dead_status = env.read_all(&format!("{}.dlq", t.status), Duration::from_secs(1));
    assert_eq!(dead_status.len(), 1);
    assert_eq!(header(&dead_status[0], "dlq.error.class"), "not-framed");
    assert_eq!(
        dead_status[0].payload(),
        Some(&b"not avro"[..]),
        "original bytes kept"
    );
}

#[test]
fn a_restarted_sink_resumes_from_its_stored_offsets_not_from_the_group() {
    let env = Env::start();
    let t = env.topics.clone();
    let start =
        |env: &Env| env.spawn_sink(SinkConfig::new(&env.broker.bootstrap, SINK, "i0", &t.all()));
    let first: Vec<_> = (0..30)
        .map(|i| {
            (
                format!("o{i}"),
                env.encode(&t.status, &status(&format!("o{i}"), 1)),
            )
        })
        .collect();
    env.produce(&t.status, &first);
    let runner = start(&env);
    env.wait_caught_up(SINK, Duration::from_secs(60));
    runner.stop().unwrap();
    // Wipe the history but keep the offsets: a sink that re-read from the start (or from the
    // group's offsets, if they lagged) would bring rows back.
    env.rt
        .block_on(sqlx::query("DELETE FROM order_status_history").execute(&env.pool))
        .unwrap();
    let second: Vec<_> = (0..30)
        .map(|i| {
            (
                format!("o{i}"),
                env.encode(&t.status, &status(&format!("o{i}"), 2)),
            )
        })
        .collect();
    env.produce(&t.status, &second);
    let runner = start(&env);
    env.wait_caught_up(SINK, Duration::from_secs(60));
    runner.stop().unwrap();
    assert_eq!(
        env.count("SELECT COUNT(*) FROM order_status_history WHERE sequence = 1"),
        0
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM order_status_history WHERE sequence = 2"),
        30
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM orders WHERE status = 'RESERVING'"),
        30
    );
}
