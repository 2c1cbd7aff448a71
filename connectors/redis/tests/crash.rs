//! Exactly-once under kill -9: `techpotli-sink-redis` is SIGKILLed several times while records
//! arrive and restarted; afterwards every `stock:*` hash holds the last level of its SKU, every
//! `order:*` its final status, and the offsets hash equals the topics' end offsets.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{ChildProc, Env, free_port};

const ORDERS: usize = 1_500;
const SKUS: usize = 40;
const CHUNKS: usize = 30;
const KILLS: usize = 6;

fn spawn_sink(env: &Env) -> ChildProc {
    let admin = format!("127.0.0.1:{}", free_port());
    let registry = env.registry_url();
    ChildProc::spawn_env(
        std::path::Path::new(env!("CARGO_BIN_EXE_techpotli-sink-redis")),
        &[],
        &[
            ("KAFKA_BOOTSTRAP", env.broker.bootstrap.as_str()),
            ("SCHEMA_REGISTRY_URL", registry.as_str()),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("TECHPOTLI_REDIS_KEY_PREFIX", env.prefix.as_str()),
            ("TECHPOTLI_ADMIN_LISTEN", admin.as_str()),
            ("TECHPOTLI_INSTANCE_ID", "crash-0"),
            ("TECHPOTLI_SINK_MAX_BATCH", "200"),
        ],
    )
}

fn progress(env: &Env) -> i64 {
    env.sink_offsets(techpotli_connector_redis::APP)
        .values()
        .sum()
}

#[test]
fn kill_9_during_a_stream_leaves_the_last_value_per_key() {
    let env = Env::start();
    let t = env.topics.clone();
    let (chunks, last_reserved) = env.order_flow_feed(&t, ORDERS, CHUNKS, SKUS, &["A"]);

    let started = Instant::now();
    let (mut sink, kills) =
        env.feed_with_kills(&t, &chunks, KILLS, || progress(&env), || spawn_sink(&env));
    env.wait_caught_up(techpotli_connector_redis::APP, Duration::from_secs(120));
    println!(
        "{kills} kills, {} records, caught up after {:?}",
        ORDERS * 5,
        started.elapsed()
    );
    sink.kill9();

    assert_eq!(kills, KILLS);
    assert_eq!(env.keys("order:*").len(), ORDERS);
    for i in (0..ORDERS).step_by(37) {
        let o = env.hash(&format!("order:o{i}"));
        assert_eq!(
            (o["status"].as_str(), o["status_sequence"].as_str()),
            ("CONFIRMED", "3")
        );
        assert_eq!(o["currency"], "INR");
    }
    let stock: BTreeMap<String, i32> = env
        .keys("stock:*")
        .into_iter()
        .map(|k| {
            let sku = k.rsplit(':').next().unwrap().to_owned();
            let h = env.hash(&format!("stock:{sku}"));
            (sku, h["reserved"].parse().unwrap())
        })
        .collect();
    assert_eq!(stock, last_reserved, "the last level per SKU");
    let mut end = env.end_offsets();
    end.retain(|_, o| *o > 0);
    assert_eq!(env.sink_offsets(techpotli_connector_redis::APP), end);
}
