//! The stack the API's integration tests run against: the embedded broker (own runtime), the
//! embedded registry, the topic catalogue applied, real Redis with a unique key prefix, and
//! the API itself in-process; plus a Kafka read-back helper.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use techpotli_api::{Config, Running};
use techpotli_kafka::BrokerConfig;
use techpotli_registry::{RegistryConfig, RegistryHandle};
use techpotli_schemas::codec::Codec;
use techpotli_testkit::TestBroker;

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

/// A [`TestBroker`] usable from async tests: it owns a runtime, so it is started, stopped and
/// dropped on a plain thread.
pub struct Broker {
    pub bootstrap: String,
    inner: Option<TestBroker>,
}

impl Broker {
    pub fn start(config: BrokerConfig) -> Self {
        let b = std::thread::spawn(move || TestBroker::start_with(config))
            .join()
            .expect("broker starts");
        Self {
            bootstrap: b.bootstrap.clone(),
            inner: Some(b),
        }
    }

    /// Stops the broker now.
    pub fn stop(&mut self) {
        if let Some(b) = self.inner.take() {
            std::thread::spawn(move || drop(b)).join().unwrap();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Broker + registry + API.
pub struct Stack {
    pub broker: Broker,
    pub registry: RegistryHandle,
    pub api: Running,
    pub http: reqwest::Client,
    pub codec: Codec,
    pub config: Config,
}

/// A dev-auth config for `bootstrap`/`registry` with a unique Redis prefix.
pub fn config(bootstrap: &str, registry: &str) -> Config {
    let mut c = Config::for_dev(bootstrap, registry);
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.schema_auto_register = true;
    c.redis_prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    c.produce_timeout_ms = 3000;
    c.request_timeout_ms = 6000;
    c.shutdown_grace_secs = 2;
    c
}

/// Starts broker (optionally on a data dir), registry, applies the catalogue.
pub async fn infra(broker_config: BrokerConfig) -> (Broker, RegistryHandle) {
    let broker = Broker::start(broker_config);
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        ClientConfig::new()
            .set("bootstrap.servers", &broker.bootstrap)
            .create()
            .unwrap();
    techpotli_topics::apply::apply(&admin, techpotli_topics::catalogue(), false)
        .await
        .expect("catalogue applies");
    let registry = techpotli_registry::start(RegistryConfig::new(broker.bootstrap.clone()))
        .await
        .expect("registry starts");
    (broker, registry)
}

impl Stack {
    /// Everything with dev auth; `tweak` adjusts the API config.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        let (broker, registry) = infra(BrokerConfig::default()).await;
        let mut config = config(&broker.bootstrap, &registry.url());
        tweak(&mut config);
        let api = techpotli_api::start(config.clone())
            .await
            .expect("api starts");
        Self {
            codec: Codec::new(&registry.url()),
            broker,
            registry,
            api,
            http: reqwest::Client::new(),
            config,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api.url())
    }
}

/// One record read back.
#[derive(Debug, Clone)]
pub struct Rec {
    pub key: Option<String>,
    pub payload: Option<Vec<u8>>,
    pub headers: HashMap<String, String>,
}

/// Every record of `topic`, waiting until at least `want` arrived (or `timeout`), then a
/// little longer so unexpected extra records are seen too.
pub async fn read_topic(bootstrap: &str, topic: &str, want: usize, timeout: Duration) -> Vec<Rec> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", format!("readback-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let md = c
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in md.topics()[0].partitions() {
            tpl.add_partition_offset(&topic, p.id(), Offset::Beginning)
                .unwrap();
        }
        c.assign(&tpl).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + timeout;
        let mut settle: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if out.len() >= want && settle.is_none() {
                settle = Some(now + Duration::from_millis(500));
            }
            if now > deadline || settle.is_some_and(|s| now > s) {
                break;
            }
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Rec {
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    payload: m.payload().map(<[u8]>::to_vec),
                    headers,
                });
            }
        }
        out
    })
    .await
    .unwrap()
}

/// Asserts the record's headers: traceparent of the response's trace, its event id, the app.
pub fn assert_headers(rec: &Rec, event_id: &str) {
    assert_eq!(
        rec.headers.get("event_id").map(String::as_str),
        Some(event_id)
    );
    assert_eq!(
        rec.headers.get("app").map(String::as_str),
        Some("techpotli-api")
    );
    let tp = rec.headers.get("traceparent").expect("traceparent header");
    assert!(
        techpotli_telemetry::TraceParent::parse(tp).is_some(),
        "bad traceparent {tp}"
    );
}

// ---- HTTP helpers -------------------------------------------------------------------

pub const WAIT: Duration = Duration::from_secs(10);

/// What a test request got back: status, JSON body (or the text as a JSON string), headers.
pub type Reply = (StatusCode, Value, reqwest::header::HeaderMap);

impl Stack {
    /// Sends `body` (as JSON) with `headers`.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut rb = self.http.request(method, self.url(path));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let h = r.headers().clone();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v, h)
    }

    pub async fn put(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
        self.send(reqwest::Method::PUT, path, Some(body), headers)
            .await
    }

    pub async fn post(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body), headers)
            .await
    }

    pub async fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(reqwest::Method::DELETE, path, None, headers)
            .await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(reqwest::Method::GET, path, None, headers).await
    }

    /// The record's value, decoded through the registry (panics on a tombstone).
    pub async fn decode<T: techpotli_schemas::AvroRecord + serde::de::DeserializeOwned>(
        &self,
        r: &Rec,
    ) -> T {
        let payload = r.payload.as_ref().expect("a value, not a tombstone");
        self.codec.decode(payload).await.expect("decodes")
    }
}

pub fn event_id(v: &Value) -> Uuid {
    v["event_id"].as_str().unwrap().parse().unwrap()
}

/// A problem body naming `field` with `status`.
pub fn assert_problem(got: &Reply, status: u16, field: &str) {
    assert_eq!(got.0.as_u16(), status, "{}", got.1);
    assert_eq!(got.2["content-type"], "application/problem+json");
    assert_eq!(got.1["field"], field, "{}", got.1);
    assert!(got.1["type"].as_str().unwrap().starts_with("/problems/"));
    assert!(!got.1["detail"].as_str().unwrap().is_empty());
}

/// A throwaway MariaDB database with the MySQL sink's migrations applied: its URL and a pool.
pub async fn fresh_database(label: &str) -> (String, sqlx::MySqlPool) {
    use sqlx::Executor;
    let name = format!("techpotli_api_{label}_{}", Uuid::new_v4().simple());
    let server = sqlx::MySqlPool::connect(&techpotli_testkit::mysql::server_url())
        .await
        .unwrap();
    server
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let url = techpotli_testkit::mysql::database_url(&name);
    let db = sqlx::MySqlPool::connect(&url).await.unwrap();
    sqlx::migrate!("../connectors/mysql/migrations")
        .run(&db)
        .await
        .unwrap();
    (url, db)
}

/// Seeds `price:{sku}` hashes under `prefix` as the Redis sink writes them (INR, no rules),
/// expiring within the hour even when the test fails before its end.
pub async fn seed_prices(prefix: &str, prices: &[(&str, i64)]) {
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    for (sku, amount) in prices {
        let key = format!("{prefix}price:{sku}");
        let amount = amount.to_string();
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg(&[
                ("sku", *sku),
                ("list_price_minor", amount.as_str()),
                ("effective_price_minor", amount.as_str()),
                ("currency", "INR"),
                ("applied_rule_ids", "[]"),
                ("valid_until_ms", ""),
                ("event_id", "0192f000-0000-7000-8000-0000000000aa"),
                ("event_time_ms", "1"),
            ])
            .query_async(&mut c)
            .await
            .unwrap();
        let _: () = redis::cmd("PEXPIRE")
            .arg(&key)
            .arg(3_600_000)
            .query_async(&mut c)
            .await
            .unwrap();
    }
}
