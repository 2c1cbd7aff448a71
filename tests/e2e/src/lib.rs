//! The end-to-end harness: a [`Stack`] is the embedded broker and registry with the topic
//! catalogue applied and every schema registered — what `techpotli dev` starts — plus helpers
//! to run the processors (in-process or as killable binaries), produce domain events and read
//! topics back decoded.
//!
//! # Layout
//! - this file: [`Stack`] (start, processors, produce, read back) and [`wait_until`].
//! - [`events`]: builders of the input events (stock, orders, payments).
//! - [`sinks`]: the MySQL and Redis sinks on a database and key prefix of their own.
//! - [`api`]: the ingress API over both, with a blocking client and signed webhooks.
//! - `tests/`: one file per scenario family (order flow, contention and crashes).

pub mod api;
pub mod events;
pub mod sinks;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::Serialize;
use serde::de::DeserializeOwned;
use techpotli_inventory::Inventory;
use techpotli_order_saga::OrderSaga;
use techpotli_pricing::Pricing;
use techpotli_runtime::{Runtime, RuntimeConfig};
use techpotli_schemas::types::inventory::StockAdjusted;
use techpotli_schemas::types::orders::OrderPlaced;
use techpotli_schemas::types::payments::PaymentEvent;
use techpotli_schemas::{AvroRecord, Codec, CodecError};
use techpotli_testkit::{ChildProc, TestBroker, free_port};
pub use techpotli_testkit::{wait_until, wait_until_eq};
use techpotli_topics::names;

/// A decoded record: key, value, partition, offset.
#[derive(Debug, Clone)]
pub struct Read<T> {
    pub key: String,
    pub value: T,
    pub partition: i32,
    pub offset: i64,
}

/// Broker + registry prepared like `techpotli dev`.
pub struct Stack {
    pub bootstrap: String,
    pub registry_url: String,
    pub codec: Codec,
    rt: tokio::runtime::Runtime,
    registry: Option<techpotli_registry::RegistryHandle>,
    producer: ThreadedProducer<DefaultProducerContext>,
    // Last: stopped after everything that talks to it.
    broker: TestBroker,
}

impl Stack {
    /// On the embedded broker, or on Apache Kafka when `TECHPOTLI_TEST_KAFKA` asks for it.
    pub fn start() -> Self {
        Self::on(TestBroker::start())
    }

    /// On `broker` (e.g. a 3-node Apache Kafka cluster of the fault tests).
    pub fn on(broker: TestBroker) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let registry = rt
            .block_on(techpotli_registry::start(
                techpotli_registry::RegistryConfig::new(broker.bootstrap.clone()),
            ))
            .expect("registry");
        let registry_url = registry.url();
        rt.block_on(techpotli_cli::dev::prepare(
            &broker.bootstrap,
            &registry_url,
        ))
        .expect("topics applied and schemas registered");
        let codec = Codec::new(&registry_url);
        // Look the input schemas' ids up once now: 200 client threads missing the cache at
        // the same moment would each ask the registry.
        rt.block_on(async {
            codec
                .schema_id::<StockAdjusted>(names::INVENTORY_ADJUSTMENTS.0)
                .await?;
            codec
                .schema_id::<OrderPlaced>(names::ORDERS_PLACED.0)
                .await?;
            codec
                .schema_id::<PaymentEvent>(names::PAYMENTS_EVENTS.0)
                .await
        })
        .expect("input schemas registered");
        let producer = ClientConfig::new()
            .set("bootstrap.servers", &broker.bootstrap)
            .set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "2")
            .create()
            .expect("producer");
        Self {
            bootstrap: broker.bootstrap.clone(),
            codec,
            registry_url,
            rt,
            registry: Some(registry),
            producer,
            broker,
        }
    }

    /// The broker (or Apache Kafka cluster) under the stack.
    pub fn broker(&self) -> &TestBroker {
        &self.broker
    }

    /// Runtime settings of one processor instance against this stack.
    pub fn runtime_config(&self, app: &str, instance: &str, inputs: &[&str]) -> RuntimeConfig {
        let mut cfg = RuntimeConfig::new(&self.bootstrap, app, instance, inputs);
        cfg.schema_registry_url = Some(self.registry_url.clone());
        cfg.session_timeout = Duration::from_secs(6);
        cfg
    }

    pub fn spawn_inventory(&self, instance: &str) -> Runtime {
        let cfg = self.runtime_config("inventory", instance, &Inventory::INPUTS);
        Runtime::spawn(cfg, Inventory).expect("inventory starts")
    }

    pub fn spawn_saga(&self, instance: &str, payment_timeout: Duration) -> Runtime {
        let cfg = self.runtime_config("order-saga", instance, &OrderSaga::INPUTS);
        let saga = OrderSaga {
            payment_timeout,
            ..OrderSaga::default()
        };
        Runtime::spawn(cfg, saga).expect("order saga starts")
    }

    pub fn spawn_pricing(&self, instance: &str) -> Runtime {
        let cfg = self.runtime_config("pricing", instance, &Pricing::INPUTS);
        Runtime::spawn(cfg, Pricing).expect("pricing starts")
    }

    /// Runs workspace binary `name` (built next to the test) as a processor instance.
    pub fn spawn_bin(&self, name: &str, instance: &str, extra: &[(&str, &str)]) -> ChildProc {
        let admin = format!("127.0.0.1:{}", free_port());
        let mut env: Vec<(&str, &str)> = vec![
            ("KAFKA_BOOTSTRAP", &self.bootstrap),
            ("SCHEMA_REGISTRY_URL", &self.registry_url),
            ("TECHPOTLI_INSTANCE_ID", instance),
            ("TECHPOTLI_ADMIN_LISTEN", &admin),
            ("TECHPOTLI_SESSION_TIMEOUT_MS", "6000"),
            ("RUST_LOG", "warn"),
        ];
        env.extend_from_slice(extra);
        ChildProc::spawn_env(&bin(name), &[], &env)
    }

    /// Encodes and queues `value` under `key` (see [`Stack::flush`]).
    pub fn send<T: AvroRecord + Serialize>(&self, topic: &str, key: &str, value: &T) {
        let bytes = retry_transient("encode", || {
            self.rt.block_on(self.codec.encode(topic, value))
        });
        self.enqueue(BaseRecord::to(topic).key(key).payload(bytes.as_slice()));
    }

    /// Queues a tombstone (no value) under `key` (see [`Stack::flush`]).
    pub fn send_tombstone(&self, topic: &str, key: &str) {
        self.enqueue(BaseRecord::to(topic).key(key));
    }

    /// Hands `rec` to the producer, waiting while its queue is full.
    fn enqueue(&self, mut rec: BaseRecord<'_, str, [u8]>) {
        loop {
            match self.producer.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }

    /// Waits until everything sent is acknowledged.
    pub fn flush(&self) {
        self.producer
            .flush(Duration::from_secs(30))
            .expect("acknowledged");
    }

    /// Every committed record of `topic` so far (read_committed, to the end of each partition),
    /// decoded as `T`, in partition then offset order.
    pub fn read<T: AvroRecord + DeserializeOwned>(&self, topic: &str) -> Vec<Read<T>> {
        self.read_opt::<T>(topic)
            .into_iter()
            .map(|r| Read {
                value: r
                    .value
                    .unwrap_or_else(|| panic!("a tombstone on {topic} at {}", r.offset)),
                key: r.key,
                partition: r.partition,
                offset: r.offset,
            })
            .collect()
    }

    /// [`Stack::read`] of a compacted topic: a tombstone is `None`.
    pub fn read_opt<T: AvroRecord + DeserializeOwned>(&self, topic: &str) -> Vec<Read<Option<T>>> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", format!("e2e-read-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .create()
            .expect("consumer");
        let md = c
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        let partitions = md.topics()[0].partitions().len() as i32;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("partition");
        }
        c.assign(&tpl).expect("assign");
        let mut pending: HashSet<i32> = (0..partitions).collect();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !pending.is_empty() {
            assert!(Instant::now() < deadline, "reading {topic} timed out");
            match c.poll(Duration::from_millis(100)) {
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    pending.remove(&p);
                }
                Some(Err(e)) => panic!("reading {topic}: {e}"),
                Some(Ok(m)) => {
                    pending.insert(m.partition());
                    let value = m.payload().map(|bytes| {
                        retry_transient("decode", || {
                            self.rt.block_on(self.codec.decode::<T>(bytes))
                        })
                    });
                    out.push(Read {
                        key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                        value,
                        partition: m.partition(),
                        offset: m.offset(),
                    });
                }
                None => {}
            }
        }
        out.sort_by_key(|r| (r.partition, r.offset));
        out
    }

    /// `read`, grouped by key (each key's records in offset order).
    pub fn read_by_key<T: AvroRecord + DeserializeOwned>(
        &self,
        topic: &str,
    ) -> BTreeMap<String, Vec<T>> {
        let mut by_key: BTreeMap<String, Vec<T>> = BTreeMap::new();
        for r in self.read::<T>(topic) {
            by_key.entry(r.key).or_default().push(r.value);
        }
        by_key
    }
}

/// A background reader that keeps every record of a topic as it is committed — the full
/// history even of a compacted topic, whose older values compaction removes later.
pub struct Tail<T> {
    seen: Arc<Mutex<Vec<Read<T>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T: AvroRecord + DeserializeOwned + Send + 'static> Tail<T> {
    /// Starts reading `topic` from the beginning.
    pub fn start(stack: &Stack, topic: &str) -> Self {
        let (seen, stop) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicBool::new(false)),
        );
        let (s, st) = (seen.clone(), stop.clone());
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &stack.bootstrap)
            .set("group.id", format!("e2e-tail-{}", uuid::Uuid::new_v4()))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .create()
            .expect("consumer");
        c.subscribe(&[topic]).expect("subscribe");
        let codec = stack.codec.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            while !st.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                    let bytes = m.payload().expect("value");
                    let value = retry_transient("decode", || rt.block_on(codec.decode::<T>(bytes)));
                    s.lock().expect("tail lock").push(Read {
                        key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                        value,
                        partition: m.partition(),
                        offset: m.offset(),
                    });
                }
            }
        });
        Self {
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Records seen so far.
    pub fn len(&self) -> usize {
        self.seen.lock().expect("tail lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops reading and returns everything seen, in arrival order.
    pub fn finish(mut self) -> Vec<Read<T>> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("tail thread");
        }
        std::mem::take(&mut *self.seen.lock().expect("tail lock"))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(r) = self.registry.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}

/// Runs a codec call, retrying while the registry is briefly unreachable (a pooled HTTP
/// connection the registry closed, a box saturated by the test), as the runtime does.
pub fn retry_transient<T>(what: &str, mut f: impl FnMut() -> Result<T, CodecError>) -> T {
    let mut attempt = 0;
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if e.is_transient() && attempt < 20 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(100 * attempt));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Path of a workspace binary built beside the test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "binary {name} not built at {} (cargo build --workspace --bins)",
        path.display()
    );
    path
}
