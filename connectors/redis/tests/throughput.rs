//! Not a timed test (`--ignored`): records/s the Redis sink materialises, in-process, from a
//! backlog of 4k orders (placed + 3 status events each) and 4k stock levels.

mod common;

use std::time::{Duration, Instant};

use common::{Env, level, order, status};
use techpotli_connector_redis::RedisSink;
use techpotli_runtime::sink::{SinkConfig, SinkRunner};
use techpotli_schemas::Codec;

const ORDERS: usize = 4_000;

#[test]
#[ignore = "a measurement, run with --ignored"]
fn throughput() {
    let env = Env::start();
    let t = env.topics.clone();
    let placed: Vec<_> = (0..ORDERS)
        .map(|i| {
            (
                format!("o{i}"),
                env.encode(&t.placed, &order(&format!("o{i}"), &["A", "B"])),
            )
        })
        .collect();
    let statuses: Vec<_> = (0..ORDERS * 3)
        .map(|i| {
            let id = format!("o{}", i / 3);
            (
                id.clone(),
                env.encode(&t.status, &status(&id, (i % 3) as i32 + 1)),
            )
        })
        .collect();
    let levels: Vec<_> = (0..ORDERS)
        .map(|i| {
            (
                format!("S{}", i % 200),
                env.encode(&t.levels, &level(&format!("S{}", i % 200), 1000, 1)),
            )
        })
        .collect();
    env.produce(&t.placed, &placed);
    env.produce(&t.status, &statuses);
    env.produce(&t.levels, &levels);
    let total = placed.len() + statuses.len() + levels.len();

    let cfg = SinkConfig::new(&env.broker.bootstrap, "bench", "i0", &t.all());
    let (prefix, topics, codec) = (
        env.prefix.clone(),
        t.clone(),
        Codec::new(&env.registry_url()),
    );
    let started = Instant::now();
    let runner = SinkRunner::spawn(cfg, async move {
        RedisSink::connect("redis://127.0.0.1:6379", &prefix, "bench", topics, codec).await
    })
    .unwrap();
    env.wait_caught_up("bench", Duration::from_secs(600));
    let secs = started.elapsed().as_secs_f64();
    let stats = runner.stop().unwrap();
    println!(
        "redis sink: {total} records in {secs:.2} s = {:.0} records/s ({} batches, start-up included)",
        total as f64 / secs,
        stats.batches
    );
}
