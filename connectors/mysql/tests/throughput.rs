//! Not a timed test (`--ignored`): records/s the MySQL sink materialises, in-process, from a
//! backlog of 4k orders (placed + 3 status events each) and 4k stock levels.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use techpotli_runtime::sink::SinkConfig;

const ORDERS: usize = 4_000;

#[test]
#[ignore = "a measurement, run with --ignored"]
fn throughput() {
    let env = Env::start();
    let t = env.topics.clone();
    let total = env.order_flow_backlog(&t, ORDERS);

    let cfg = SinkConfig::new(&env.broker.bootstrap, "bench", "i0", &t.all());
    let started = Instant::now();
    let runner = env.spawn_sink(cfg);
    env.wait_caught_up("bench", Duration::from_secs(600));
    let secs = started.elapsed().as_secs_f64();
    let stats = runner.stop().unwrap();
    println!(
        "mysql sink: {total} records in {secs:.2} s = {:.0} records/s ({} batches, start-up and migrations included)",
        total as f64 / secs,
        stats.batches
    );
}
