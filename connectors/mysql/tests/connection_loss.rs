//! The database dropping the sink's connection in the middle of a batch (`KILL CONNECTION`, as
//! a restart or failover would) is a transient failure: the batch is retried with back-off on
//! a fresh connection, nothing is dead-lettered, and every record is applied once.

mod common;

use std::time::Duration;

use common::{Env, level, status};
use sqlx::{Connection, MySqlConnection};
use techpotli_runtime::sink::SinkConfig;

const SINK: &str = "sink-mysql-kill-conn";

/// Keyed values to produce.
type Records = Vec<(String, Vec<u8>)>;

/// The `c`-th chunk: (status events, stock levels).
fn chunk(env: &Env, c: usize) -> (Records, Records) {
    let t = &env.topics;
    let statuses = (c * 100..(c + 1) * 100)
        .map(|i| {
            let id = format!("o{}", i / 2);
            (
                id.clone(),
                env.encode(&t.status, &status(&id, (i % 2 + 1) as i32)),
            )
        })
        .collect();
    let levels = (0..20)
        .map(|k| {
            (
                format!("S{k}"),
                env.encode(&t.levels, &level(&format!("S{k}"), 1000, c as i32)),
            )
        })
        .collect();
    (statuses, levels)
}

#[test]
fn a_connection_killed_mid_batch_is_retried_not_dead_lettered() {
    let env = Env::start();
    let t = env.topics.clone();
    let cfg = SinkConfig::new(&env.broker.bootstrap, SINK, "i0", &t.all());
    let runner = env.spawn_sink(cfg);
    let (s, l) = chunk(&env, 0);
    env.produce(&t.status, &s);
    env.produce(&t.levels, &l);
    env.wait_caught_up(SINK, Duration::from_secs(60));

    // Hold the sink's offset rows: its next batch blocks inside its transaction.
    let mut lock = env
        .rt
        .block_on(MySqlConnection::connect(&env.db_url))
        .unwrap();
    let lock_id: i64 = env.rt.block_on(async {
        sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
        sqlx::query("SELECT * FROM sink_offsets FOR UPDATE")
            .execute(&mut lock)
            .await
            .unwrap();
        sqlx::query_scalar("SELECT CAST(CONNECTION_ID() AS SIGNED)")
            .fetch_one(&mut lock)
            .await
            .unwrap()
    });
    for c in 1..5 {
        let (s, l) = chunk(&env, c);
        env.produce(&t.status, &s);
        env.produce(&t.levels, &l);
    }
    std::thread::sleep(Duration::from_millis(500));
    let killed = env.rt.block_on(async {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT CAST(id AS SIGNED) FROM information_schema.processlist WHERE db = ? AND id <> ? AND command <> 'Sleep'",
        )
        .bind(&env.db_name)
        .bind(lock_id)
        .fetch_all(&mut lock)
        .await
        .unwrap();
        for id in &ids {
            sqlx::query(sqlx::AssertSqlSafe(format!("KILL CONNECTION {id}")))
                .execute(&mut lock)
                .await
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
        sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
        ids.len()
    });
    env.wait_caught_up(SINK, Duration::from_secs(60));
    let stats = runner.stop().expect("clean stop");
    println!("killed {killed} busy connection(s); {stats:?}");
    assert!(killed >= 1, "the sink was blocked in its batch");
    assert!(
        stats.retries >= 1,
        "the killed batch was retried: {stats:?}"
    );
    assert_eq!(
        stats.dead_lettered, 0,
        "transient failures are never dead-lettered"
    );
    assert_eq!(env.count("SELECT COUNT(*) FROM order_status_history"), 500);
    assert_eq!(
        env.count("SELECT COUNT(*) FROM orders WHERE status = 'RESERVING'"),
        250
    );
    assert_eq!(
        env.count("SELECT COUNT(*) FROM stock_levels WHERE reserved = 4"),
        20
    );
}
