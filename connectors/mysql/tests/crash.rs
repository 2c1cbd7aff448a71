//! Exactly-once under kill -9: the `techpotli-sink-mysql` binary is SIGKILLed several times
//! while records keep arriving, restarted each time, and finally stopped with SIGTERM (exit 0).
//! No status row is duplicated or lost, the final stock levels are the last record per SKU,
//! and `sink_offsets` equal the topics' end offsets.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{ChildProc, Env, free_port, wait_until};

const ORDERS: usize = 1_500;
const SKUS: usize = 40;
const CHUNKS: usize = 30;
const KILLS: usize = 6;

/// `GET /readyz` answered 200: partitions assigned at the sink's offsets.
fn ready(admin: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(admin) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = write!(s, "GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200")
}

fn spawn_sink(env: &Env) -> (ChildProc, String) {
    let admin = format!("127.0.0.1:{}", free_port());
    let registry = env.registry_url();
    let child = ChildProc::spawn_env(
        std::path::Path::new(env!("CARGO_BIN_EXE_techpotli-sink-mysql")),
        &[],
        &[
            ("KAFKA_BOOTSTRAP", env.broker.bootstrap.as_str()),
            ("SCHEMA_REGISTRY_URL", registry.as_str()),
            ("DATABASE_URL", env.db_url.as_str()),
            ("TECHPOTLI_ADMIN_LISTEN", admin.as_str()),
            ("TECHPOTLI_INSTANCE_ID", "crash-0"),
            ("TECHPOTLI_SINK_MAX_BATCH", "200"),
        ],
    );
    (child, admin)
}

/// Sum of the stored offsets: how far the sink has got.
fn progress(env: &Env) -> i64 {
    env.sink_offsets(techpotli_connector_mysql::APP)
        .values()
        .sum()
}

#[test]
fn kill_9_during_a_stream_neither_duplicates_nor_loses_rows() {
    let env = Env::start();
    let t = env.topics.clone();
    let (chunks, last_reserved) = env.order_flow_feed(&t, ORDERS, CHUNKS, SKUS, &["A", "B"]);

    let started = Instant::now();
    let (mut sink, kills) =
        env.feed_with_kills(&t, &chunks, KILLS, || progress(&env), || spawn_sink(&env).0);
    env.wait_caught_up(techpotli_connector_mysql::APP, Duration::from_secs(120));
    let elapsed = started.elapsed();
    // A fresh incarnation: SIGTERM once it runs (before that, the default action kills it).
    sink.kill9();
    let (mut sink, admin) = spawn_sink(&env);
    wait_until("the sink ready", Duration::from_secs(30), || ready(&admin));
    sink.term();
    let exit = sink
        .wait_timeout(Duration::from_secs(30))
        .expect("stops on SIGTERM");
    assert!(exit.success(), "SIGTERM → exit 0, got {exit:?}");
    println!(
        "{kills} kills, {} records, caught up after {elapsed:?}",
        ORDERS * 5
    );

    assert_eq!(kills, KILLS);
    assert_eq!(env.count("SELECT COUNT(*) FROM orders"), ORDERS as i64);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM order_lines"),
        2 * ORDERS as i64
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM order_status_history"),
        3 * ORDERS as i64
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM (SELECT order_id FROM order_status_history GROUP BY order_id HAVING COUNT(*) = 3 AND MIN(sequence) = 1 AND MAX(sequence) = 3) x"),
        ORDERS as i64
    );
    // Every status row came from a distinct record: no replay re-wrote one.
    assert_eq!(
        env.count(
            "SELECT COUNT(DISTINCT source_partition, source_offset) FROM order_status_history"
        ),
        3 * ORDERS as i64
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM orders WHERE status = 'CONFIRMED'"),
        ORDERS as i64
    );
    let stock: BTreeMap<String, i32> = env
        .rt
        .block_on(
            sqlx::query_as::<_, (String, i32)>("SELECT sku, reserved FROM stock_levels")
                .fetch_all(&env.pool),
        )
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(stock, last_reserved, "the last level per SKU");
    let mut end = env.end_offsets();
    end.retain(|_, o| *o > 0);
    assert_eq!(env.sink_offsets(techpotli_connector_mysql::APP), end);
    assert!(
        env.read_all(&format!("{}.dlq", t.status), Duration::from_secs(1))
            .is_empty(),
        "nothing dead-lettered"
    );
}
