//! Harness: the shared sink environment (broker, registry, the order-flow topics, producer,
//! readers) plus a Redis key prefix of its own, whose keys are deleted at the end.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ops::Deref;
use std::time::Duration;

use redis::AsyncCommands;
use techpotli_connector_redis::{RedisSink, Topics};
use techpotli_runtime::sink::{SinkConfig, SinkRunner};
use techpotli_schemas::Codec;
#[allow(unused_imports)]
pub use techpotli_testkit::fixtures::{level, order, status};
use techpotli_testkit::sink::SinkEnv;
#[allow(unused_imports)]
pub use techpotli_testkit::{ChildProc, TestBroker, free_port};

pub const PARTITIONS: i32 = 3;

pub struct Env {
    pub kit: SinkEnv,
    pub topics: Topics,
    /// Every key of this test starts with it.
    pub prefix: String,
    pub redis: redis::aio::MultiplexedConnection,
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
        let kit = SinkEnv::start(&topics.redis(), PARTITIONS);
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        let redis = kit.rt.block_on(async {
            redis::Client::open("redis://127.0.0.1:6379")
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .expect("Redis at 127.0.0.1:6379 (scripts/ensure-services.sh)")
        });
        Self {
            kit,
            topics,
            prefix,
            redis,
        }
    }

    /// The sink's offsets hash.
    pub fn sink_offsets(&self, sink: &str) -> BTreeMap<(String, i32), i64> {
        let key = format!("{}sink:{sink}:offsets", self.prefix);
        let h: BTreeMap<String, i64> = self
            .rt
            .block_on(self.redis.clone().hgetall(key))
            .unwrap_or_default();
        h.into_iter()
            .map(|(f, o)| {
                let (t, p) = f.rsplit_once(':').unwrap();
                ((t.to_owned(), p.parse().unwrap()), o)
            })
            .collect()
    }

    /// The sink loop of `cfg` (its app id is the sink's name) under this env's key prefix.
    pub fn spawn_sink(&self, cfg: SinkConfig) -> SinkRunner {
        let (prefix, topics) = (self.prefix.clone(), self.topics.clone());
        let (name, codec) = (cfg.app_id.clone(), Codec::new(&self.registry_url()));
        SinkRunner::spawn(cfg, async move {
            RedisSink::connect("redis://127.0.0.1:6379", &prefix, &name, topics, codec).await
        })
        .expect("spawn")
    }

    /// Waits until the sink stored the end offset of every non-empty partition.
    pub fn wait_caught_up(&self, sink: &str, timeout: Duration) {
        self.kit.wait_caught_up(timeout, || self.sink_offsets(sink));
    }

    /// The hash at `{prefix}{key}`.
    pub fn hash(&self, key: &str) -> BTreeMap<String, String> {
        let key = format!("{}{key}", self.prefix);
        self.rt.block_on(self.redis.clone().hgetall(key)).unwrap()
    }

    /// Keys under the test's prefix matching `pattern` (after the prefix).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let pat = format!("{}{pattern}", self.prefix);
        self.rt.block_on(self.redis.clone().keys(pat)).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let keys = self.keys("*");
        if !keys.is_empty() {
            let _: Result<(), _> = self.kit.rt.block_on(self.redis.clone().del(keys));
        }
    }
}
