//! Harness: a broker, a registry, the order-flow topics, a throwaway database, and the
//! records the tests produce.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use sqlx::mysql::MySqlPool;
use techpotli_connector_mysql::Topics;
use techpotli_registry::{RegistryConfig, RegistryHandle};
use techpotli_schemas::Codec;
use techpotli_schemas::types::inventory::{StockChangeReason, StockLevel};
use techpotli_schemas::types::orders::{
    OrderLine, OrderPlaced, OrderState, OrderStatusChanged, ShippingAddress,
};
#[allow(unused_imports)]
pub use techpotli_testkit::{ChildProc, TestBroker, free_port};

pub const PARTITIONS: i32 = 3;

pub struct Env {
    pub broker: TestBroker,
    pub rt: tokio::runtime::Runtime,
    pub registry: Option<RegistryHandle>,
    pub codec: Codec,
    pub topics: Topics,
    pub db_name: String,
    pub db_url: String,
    pub pool: MySqlPool,
    pub producer: ThreadedProducer<DefaultProducerContext>,
}

impl Env {
    pub fn start() -> Self {
        let broker = TestBroker::start();
        let topics = Topics::default();
        for t in topics.all() {
            techpotli_testkit::create_topic(&broker.bootstrap, t, PARTITIONS, &[]);
        }
        let rt = tokio::runtime::Runtime::new().unwrap();
        let registry = rt
            .block_on(techpotli_registry::start(RegistryConfig::new(
                &broker.bootstrap,
            )))
            .expect("registry");
        let codec = Codec::new(&registry.url()).with_auto_register(true);
        let db_name = format!("techpotli_test_{}", uuid::Uuid::new_v4().simple());
        let db_url = format!("mysql://root@127.0.0.1:3306/{db_name}");
        let pool = rt.block_on(async {
            let admin = MySqlPool::connect("mysql://root@127.0.0.1:3306/mysql")
                .await
                .expect("MariaDB at 127.0.0.1:3306 (scripts/ensure-services.sh)");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db_name}")))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            MySqlPool::connect(&db_url).await.unwrap()
        });
        let producer = ClientConfig::new()
            .set("bootstrap.servers", &broker.bootstrap)
            .set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        Self {
            broker,
            rt,
            registry: Some(registry),
            codec,
            topics,
            db_name,
            db_url,
            pool,
            producer,
        }
    }

    pub fn registry_url(&self) -> String {
        self.registry.as_ref().unwrap().url()
    }

    pub fn encode<T: techpotli_schemas::AvroRecord + serde::Serialize>(
        &self,
        topic: &str,
        v: &T,
    ) -> Vec<u8> {
        self.rt
            .block_on(self.codec.encode(topic, v))
            .expect("encode")
    }

    /// Produces (key, value) to `topic` and waits for the acknowledgements.
    pub fn produce(&self, topic: &str, records: &[(String, Vec<u8>)]) {
        for (k, v) in records {
            let mut rec = BaseRecord::to(topic).key(k).payload(v);
            while let Err((_, r)) = self.producer.send(rec) {
                rec = r;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self.producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// Produces a tombstone (null value) for `key`.
    pub fn produce_tombstone(&self, topic: &str, key: &str) {
        let rec: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic).key(key);
        self.producer.send(rec).map_err(|(e, _)| e).unwrap();
        self.producer.flush(Duration::from_secs(30)).unwrap();
    }

    /// The end offset of every partition of the three topics.
    pub fn end_offsets(&self) -> BTreeMap<(String, i32), i64> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.broker.bootstrap)
            .create()
            .unwrap();
        let mut out = BTreeMap::new();
        for t in self.topics.all() {
            for p in 0..PARTITIONS {
                let (_, high) = c.fetch_watermarks(t, p, Duration::from_secs(10)).unwrap();
                out.insert((t.to_owned(), p), high);
            }
        }
        out
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
        let want: BTreeMap<_, _> = self
            .end_offsets()
            .into_iter()
            .filter(|(_, o)| *o > 0)
            .collect();
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.sink_offsets(sink);
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sink did not catch up: stored {got:?}, want {want:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn count(&self, sql: &'static str) -> i64 {
        self.rt
            .block_on(sqlx::query_scalar::<_, i64>(sql).fetch_one(&self.pool))
            .unwrap()
    }

    /// Reads every record of `topic` (read_committed) until `quiet` passes without one.
    pub fn read_all(&self, topic: &str, quiet: Duration) -> Vec<OwnedMessage> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.broker.bootstrap)
            .set("group.id", format!("verify-{}", uuid::Uuid::new_v4()))
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .create()
            .unwrap();
        c.subscribe(&[topic]).unwrap();
        let mut out = Vec::new();
        let mut last = Instant::now();
        while last.elapsed() < quiet {
            if let Some(r) = c.poll(Duration::from_millis(100)) {
                out.push(r.unwrap().detach());
                last = Instant::now();
            }
        }
        out
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let name = self.db_name.clone();
        let pool = self.pool.clone();
        self.rt.block_on(async move {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name}"
            )))
            .execute(&pool)
            .await;
            pool.close().await;
        });
        if let Some(r) = self.registry.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

pub fn order(id: &str, skus: &[&str]) -> OrderPlaced {
    let lines: Vec<OrderLine> = skus
        .iter()
        .map(|s| OrderLine {
            sku: (*s).into(),
            quantity: 2,
            unit_price_minor: 1250,
        })
        .collect();
    let subtotal = 2500 * lines.len() as i64;
    OrderPlaced {
        event_id: uuid::Uuid::now_v7(),
        event_time: 1_700_000_000_000,
        order_id: id.into(),
        user_id: format!("user-{id}"),
        idempotency_key: format!("idem-{id}"),
        cart_id: None,
        currency: "INR".into(),
        lines,
        subtotal_minor: subtotal,
        discount_minor: 0,
        shipping_minor: 0,
        tax_minor: 0,
        total_minor: subtotal,
        shipping_address: ShippingAddress {
            recipient_name: "Asha".into(),
            line1: "12 MG Road".into(),
            line2: None,
            city: "Bengaluru".into(),
            region: Some("KA".into()),
            postal_code: "560001".into(),
            country_code: "IN".into(),
            phone: None,
        },
    }
}

/// The `seq`-th transition of order `id` (1: PLACED, 2: RESERVING, 3: CONFIRMED).
pub fn status(id: &str, seq: i32) -> OrderStatusChanged {
    let states = [
        OrderState::Placed,
        OrderState::Reserving,
        OrderState::Confirmed,
    ];
    OrderStatusChanged {
        event_id: uuid::Uuid::now_v7(),
        event_time: 1_700_000_000_000 + i64::from(seq),
        order_id: id.into(),
        user_id: format!("user-{id}"),
        sequence: seq,
        state: states[(seq as usize - 1) % 3],
        previous_state: (seq > 1).then(|| states[(seq as usize - 2) % 3]),
        reason: None,
        total_minor: 2500,
        currency: "INR".into(),
    }
}

pub fn level(sku: &str, on_hand: i32, reserved: i32) -> StockLevel {
    StockLevel {
        event_id: uuid::Uuid::now_v7(),
        event_time: 1_700_000_000_000,
        sku: sku.into(),
        on_hand,
        reserved,
        available: (on_hand - reserved).max(0),
        flagged: on_hand < reserved,
        last_change_reason: StockChangeReason::Reservation,
    }
}
