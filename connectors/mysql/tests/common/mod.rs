//! Harness: the shared sink environment (broker, registry, the order-flow topics, producer,
//! readers) plus a throwaway database, dropped at the end.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ops::Deref;
use std::time::Duration;

use sqlx::mysql::MySqlPool;
use techpotli_connector_mysql::MySqlSink;
use techpotli_connector_mysql::Topics;
use techpotli_runtime::sink::{SinkConfig, SinkRunner};
use techpotli_schemas::Codec;
#[allow(unused_imports)]
pub use techpotli_testkit::fixtures::{level, order, status};
use techpotli_testkit::sink::SinkEnv;
#[allow(unused_imports)]
pub use techpotli_testkit::{ChildProc, TestBroker, free_port, mysql, wait_until};

pub const PARTITIONS: i32 = 3;

/// Creates a uniquely named database: its name, URL and a pool on it (which may drop it).
pub async fn create_database() -> (String, String, MySqlPool) {
    let name = format!("techpotli_test_{}", uuid::Uuid::new_v4().simple());
    let url = mysql::database_url(&name);
    let admin = MySqlPool::connect(&mysql::server_url())
        .await
        .expect("MariaDB at 127.0.0.1:3306 (scripts/ensure-services.sh)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let pool = MySqlPool::connect(&url).await.unwrap();
    (name, url, pool)
}

pub struct Env {
    pub kit: SinkEnv,
    pub topics: Topics,
    pub db_name: String,
    pub db_url: String,
    pub pool: MySqlPool,
}

impl Deref for Env {
    type Target = SinkEnv;
    fn deref(&self) -> &SinkEnv {
        &self.kit
    }
}

impl Env {
    pub fn start() -> Self {
        let topics = Topics::default();
        let kit = SinkEnv::start(&topics.all(), PARTITIONS);
        let (db_name, db_url, pool) = kit.rt.block_on(create_database());
        Self {
            kit,
            topics,
            db_name,
            db_url,
            pool,
        }
    }

    /// `sink_offsets` of `sink`.
    pub fn sink_offsets(&self, sink: &str) -> BTreeMap<(String, i32), i64> {
        self.rt.block_on(async {
            sqlx::query_as::<_, (String, i32, i64)>(
                "SELECT topic, `partition`, next_offset FROM sink_offsets WHERE sink = ?",
            )
            .bind(sink)
            .fetch_all(&self.pool)
            .await
            .map(|rows| rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
            .unwrap_or_default()
        })
    }

    /// Waits until the sink stored the end offset of every non-empty partition.
    pub fn wait_caught_up(&self, sink: &str, timeout: Duration) {
        self.kit.wait_caught_up(timeout, || self.sink_offsets(sink));
    }

    /// The sink loop of `cfg` (its app id is the sink's name) over this env's database.
    pub fn spawn_sink(&self, cfg: SinkConfig) -> SinkRunner {
        let (url, topics) = (self.db_url.clone(), self.topics.clone());
        let (name, codec) = (cfg.app_id.clone(), Codec::new(&self.registry_url()));
        SinkRunner::spawn(cfg, async move {
            MySqlSink::connect(&url, &name, topics, codec).await
        })
        .expect("spawn")
    }

    /// Waits until `runner` owns its partitions (readiness), failing at once with the loop's
    /// error if it died instead of leaving a later wait to time out.
    pub fn wait_ready(runner: SinkRunner, timeout: Duration) -> SinkRunner {
        let ready = runner.readiness();
        let deadline = std::time::Instant::now() + timeout;
        while !ready() {
            assert!(
                !runner.is_finished(),
                "the sink loop ended before it was ready: {:?}",
                runner.join()
            );
            assert!(
                std::time::Instant::now() < deadline,
                "the sink was not ready after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        runner
    }

    pub fn count(&self, sql: &'static str) -> i64 {
        self.rt
            .block_on(sqlx::query_scalar::<_, i64>(sql).fetch_one(&self.pool))
            .unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let name = self.db_name.clone();
        let pool = self.pool.clone();
        self.kit.rt.block_on(async move {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .execute(&pool)
            .await;
            pool.close().await;
        });
    }
}
