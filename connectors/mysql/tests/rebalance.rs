//! Two sink instances in one group, one joining and one leaving mid-stream: partitions move
//! between them at the offsets stored in MySQL, and every status event is applied once.

mod common;

use std::time::Duration;

use common::{Env, status};
use techpotli_runtime::sink::{SinkConfig, SinkRunner};

const SINK: &str = "sink-mysql-rebalance";
const ORDERS: usize = 600;

fn start(env: &Env, instance: &str) -> SinkRunner {
    let t = env.topics.clone();
    let mut cfg = SinkConfig::new(&env.broker.bootstrap, SINK, instance, &t.all());
    cfg.static_membership = false;
    cfg.max_batch = 50;
    env.spawn_sink(cfg)
}

#[test]
fn partitions_move_between_instances_at_the_stored_offsets() {
    let env = Env::start();
    let t = env.topics.clone();
    let chunks: Vec<Vec<(String, Vec<u8>)>> = (0..6)
        .map(|c| {
            (c * ORDERS / 6..(c + 1) * ORDERS / 6)
                .flat_map(|i| {
                    let id = format!("o{i}");
                    (1..=3)
                        .map(|seq| (id.clone(), env.encode(&t.status, &status(&id, seq))))
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .collect();
    let a = Env::wait_ready(start(&env, "a"), Duration::from_secs(30));
    env.produce(&t.status, &chunks[0]);
    env.produce(&t.status, &chunks[1]);
    // b joins mid-stream: the group rebalances (a rejoins on its next heartbeat) and b owns a
    // share before the next chunks arrive.
    let b = Env::wait_ready(start(&env, "b"), Duration::from_secs(30));
    for chunk in &chunks[2..4] {
        env.produce(&t.status, chunk);
        std::thread::sleep(Duration::from_millis(300));
    }
    let a_stats = a.stop().expect("a stops cleanly");
    for chunk in &chunks[4..] {
        env.produce(&t.status, chunk);
    }
    env.wait_caught_up(SINK, Duration::from_secs(90));
    let b_stats = b.stop().expect("b stops cleanly");
    println!(
        "instance a applied {}, b applied {}",
        a_stats.applied, b_stats.applied
    );
    assert!(b_stats.applied > 0, "b took partitions over");
    assert_eq!(
        env.count("SELECT COUNT(*) FROM order_status_history"),
        3 * ORDERS as i64
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM orders WHERE status = 'CONFIRMED'"),
        ORDERS as i64
    );
    // The loop hands an instance no record below the stored offsets: each was applied once.
    assert_eq!(a_stats.applied + b_stats.applied, 3 * ORDERS as u64);
}
