//! Harness: a broker, a registry, the order-flow topics, a Redis key prefix of its own, and
//! the records the tests produce.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use redis::AsyncCommands;
use techpotli_connector_redis::Topics;
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
    /// Every key of this test starts with it.
    pub prefix: String,
    pub redis: redis::aio::MultiplexedConnection,
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
        let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
        let redis = rt.block_on(async {
            redis::Client::open("redis://127.0.0.1:6379")
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .expect("Redis at 127.0.0.1:6379 (scripts/ensure-services.sh)")
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
            prefix,
            redis,
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
        let keys = self.keys("*");
        if !keys.is_empty() {
            let _: Result<(), _> = self.rt.block_on(self.redis.clone().del(keys));
        }
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
