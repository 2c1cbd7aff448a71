//! Instances starting together on an empty database: every one of them comes up, the schema is
//! applied once. (MariaDB answers sqlx's own `GET_LOCK(name, -1)` with NULL at once, so
//! without the connector's lock some of them die on "migration 1 is partially applied".)

mod common;

const INSTANCES: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_starting_together_apply_the_migrations_once() {
    let (db, url, pool) = common::create_database().await;
    let runs: Vec<_> = (0..INSTANCES)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { techpotli_connector_mysql::migrate::run(&url).await })
        })
        .collect();
    let mut failures = Vec::new();
    for r in runs {
        if let Err(e) = r.await.expect("joins") {
            failures.push(e.to_string());
        }
    }
    let applied: Vec<(i64, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT version, success FROM {db}._sqlx_migrations ORDER BY version"
    )))
    .fetch_all(&pool)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {db}")))
        .execute(&pool)
        .await
        .unwrap();
    assert!(failures.is_empty(), "instances failed: {failures:?}");
    let want: Vec<(i64, bool)> = techpotli_connector_mysql::MIGRATOR
        .iter()
        .map(|m| (m.version, true))
        .collect();
    assert_eq!(applied, want);
}
