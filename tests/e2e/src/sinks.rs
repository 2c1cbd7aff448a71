//! The MySQL and Redis sinks in-process against a [`Stack`], on a database and a Redis key
//! prefix of their own (dropped / deleted when the [`Sinks`] is dropped), with readers of what
//! they materialised.

use std::collections::BTreeMap;

use redis::AsyncCommands;
use sqlx::Row;
use techpotli_connector_mysql as mysql;
use techpotli_connector_redis as redis_sink;
use techpotli_runtime::sink::{SinkConfig, SinkRunner};
use techpotli_schemas::Codec;
use techpotli_testkit::mysql as mysql_server;

use crate::Stack;

/// Redis for the tests (the machine's server).
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Running sinks and where they write.
pub struct Sinks {
    pub database_url: String,
    pub redis_prefix: String,
    runners: Vec<SinkRunner>,
    rt: tokio::runtime::Runtime,
}

fn config(stack: &Stack, app: &str, topics: &[&str]) -> SinkConfig {
    let mut cfg = SinkConfig::new(&stack.bootstrap, app, "e2e-0", topics);
    cfg.schema_registry_url.clone_from(&stack.registry_url);
    cfg
}

impl Sinks {
    /// Both sinks in-process.
    pub fn start(stack: &Stack) -> Self {
        let mut s = Self::targets_only();
        s.runners = s.spawn_in_process(stack);
        s
    }

    /// A fresh database name and key prefix, no sink running: for sinks run as binaries
    /// ([`Sinks::env`]).
    pub fn targets_only() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            database_url: mysql_server::database_url(&format!("techpotli_e2e_{id}")),
            redis_prefix: format!("e2e-{id}:"),
            runners: Vec::new(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    /// The environment a sink binary needs to write where these readers look.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", self.database_url.clone()),
            ("REDIS_URL", REDIS_URL.to_owned()),
            ("TECHPOTLI_REDIS_KEY_PREFIX", self.redis_prefix.clone()),
        ]
    }

    fn spawn_in_process(&self, stack: &Stack) -> Vec<SinkRunner> {
        let (database_url, redis_prefix) = (self.database_url.clone(), self.redis_prefix.clone());
        let (mt, rt_topics) = (mysql::Topics::default(), redis_sink::Topics::default());
        let (db, codec) = (database_url.clone(), Codec::new(&stack.registry_url));
        let m = SinkRunner::spawn(config(stack, mysql::APP, &mt.all()), async move {
            mysql::MySqlSink::connect(&db, mysql::APP, mt, codec).await
        })
        .expect("mysql sink");
        let (prefix, codec) = (redis_prefix.clone(), Codec::new(&stack.registry_url));
        let r = SinkRunner::spawn(
            config(stack, redis_sink::APP, &rt_topics.redis()),
            async move {
                redis_sink::RedisSink::connect(
                    REDIS_URL,
                    &prefix,
                    redis_sink::APP,
                    rt_topics,
                    codec,
                )
                .await
            },
        )
        .expect("redis sink");
        vec![m, r]
    }

    /// `stock_levels`: sku → (on hand, reserved).
    pub fn mysql_stock(&self) -> BTreeMap<String, (i32, i32)> {
        self.rt.block_on(async {
            let Ok(pool) = sqlx::MySqlPool::connect(&self.database_url).await else {
                return BTreeMap::new();
            };
            let rows = sqlx::query("SELECT sku, on_hand, reserved FROM stock_levels")
                .fetch_all(&pool)
                .await
                .unwrap_or_default();
            rows.iter()
                .map(|r| (r.get("sku"), (r.get("on_hand"), r.get("reserved"))))
                .collect()
        })
    }

    /// `orders`: order id → current status; and the number of `order_status_history` rows.
    pub fn mysql_orders(&self) -> (BTreeMap<String, String>, i64) {
        self.rt.block_on(async {
            let Ok(pool) = sqlx::MySqlPool::connect(&self.database_url).await else {
                return (BTreeMap::new(), 0);
            };
            let rows = sqlx::query("SELECT order_id, status FROM orders WHERE status IS NOT NULL")
                .fetch_all(&pool)
                .await
                .unwrap_or_default();
            let history: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM order_status_history")
                .fetch_one(&pool)
                .await
                .unwrap_or(0);
            let orders = rows
                .iter()
                .map(|r| (r.get("order_id"), r.get("status")))
                .collect();
            (orders, history)
        })
    }

    /// Redis hash `field` of `stock:{sku}` / `order:{id}` (`kind` is `stock` or `order`).
    pub fn redis_field(&self, kind: &str, id: &str, field: &str) -> Option<String> {
        self.rt.block_on(async {
            let client = redis::Client::open(REDIS_URL).ok()?;
            let mut con = client.get_multiplexed_async_connection().await.ok()?;
            let key = format!("{}{kind}:{id}", self.redis_prefix);
            con.hget::<_, _, Option<String>>(key, field).await.ok()?
        })
    }

    /// Stops both sinks (each commits its batch).
    pub fn stop(mut self) {
        for r in self.runners.drain(..) {
            r.stop().expect("sink stops cleanly");
        }
    }
}

impl Drop for Sinks {
    fn drop(&mut self) {
        for r in self.runners.drain(..) {
            let _ = r.stop();
        }
        let (db, prefix) = (self.database_url.clone(), self.redis_prefix.clone());
        self.rt.block_on(async move {
            let name = db.rsplit('/').next().unwrap_or_default().to_owned();
            if let Ok(pool) = sqlx::MySqlPool::connect(&mysql_server::server_url()).await {
                // The name is ours (`techpotli_e2e_<uuid>`), not input.
                let drop = format!("DROP DATABASE IF EXISTS `{name}`");
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&pool).await;
            }
            if let Ok(client) = redis::Client::open(REDIS_URL)
                && let Ok(mut con) = client.get_multiplexed_async_connection().await
            {
                let keys: Vec<String> = con.keys(format!("{prefix}*")).await.unwrap_or_default();
                if !keys.is_empty() {
                    let _: Result<(), _> = con.del(keys).await;
                }
            }
        });
    }
}
