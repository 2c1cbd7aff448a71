//! What a sink connector's integration tests share: a broker with the sink's input topics, a
//! schema registry (auto-registering, so tests encode any record), a producer, and readers of
//! end offsets and committed records. Each connector wraps it with its own store.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use techpotli_registry::{RegistryConfig, RegistryHandle};
use techpotli_schemas::Codec;
use techpotli_topics::order_flow::OrderFlowTopics;

use crate::{ChildProc, TestBroker};

/// One feed step of the order flow: (placed, status, levels) records.
pub type Chunk = [Vec<(String, Vec<u8>)>; 3];

/// A sink's Kafka side; the registry stops when dropped.
pub struct SinkEnv {
    pub broker: TestBroker,
    pub rt: tokio::runtime::Runtime,
    pub registry: Option<RegistryHandle>,
    pub codec: Codec,
    pub producer: ThreadedProducer<DefaultProducerContext>,
    inputs: Vec<String>,
    partitions: i32,
}

impl SinkEnv {
    /// A broker with `inputs` created with `partitions` each, and a registry.
    pub fn start(inputs: &[&str], partitions: i32) -> Self {
        let broker = TestBroker::start();
        for t in inputs {
            crate::create_topic(&broker.bootstrap, t, partitions, &[]);
        }
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let registry = rt
            .block_on(techpotli_registry::start(RegistryConfig::new(
                &broker.bootstrap,
            )))
            .expect("registry");
        let codec = Codec::new(&registry.url()).with_auto_register(true);
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
            producer,
            inputs: inputs.iter().map(|t| (*t).to_owned()).collect(),
            partitions,
        }
    }

    pub fn registry_url(&self) -> String {
        self.registry.as_ref().expect("registry running").url()
    }

    /// `v` Confluent-framed for `topic`'s value subject.
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
        self.producer.flush(Duration::from_secs(30)).expect("flush");
    }

    /// Produces a tombstone (null value) for `key`.
    pub fn produce_tombstone(&self, topic: &str, key: &str) {
        let rec: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic).key(key);
        self.producer.send(rec).map_err(|(e, _)| e).expect("send");
        self.producer.flush(Duration::from_secs(30)).expect("flush");
    }

    /// The end offset of every partition of the inputs.
    pub fn end_offsets(&self) -> BTreeMap<(String, i32), i64> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.broker.bootstrap)
            .create()
            .expect("consumer");
        let mut out = BTreeMap::new();
        for t in &self.inputs {
            for p in 0..self.partitions {
                let (_, high) = c
                    .fetch_watermarks(t, p, Duration::from_secs(10))
                    .expect("watermarks");
                out.insert((t.clone(), p), high);
            }
        }
        out
    }

    /// Waits until `stored()` (the offsets the sink keeps with its writes) holds the end
    /// offset of every non-empty input partition.
    pub fn wait_caught_up(
        &self,
        timeout: Duration,
        mut stored: impl FnMut() -> BTreeMap<(String, i32), i64>,
    ) {
        let want: BTreeMap<_, _> = self
            .end_offsets()
            .into_iter()
            .filter(|(_, o)| *o > 0)
            .collect();
        let deadline = Instant::now() + timeout;
        loop {
            let got = stored();
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

    /// Produces a backlog of `orders` orders (`o{i}`, two lines, placed + 3 statuses each) and
    /// as many stock levels over 200 SKUs to the three order-flow topics
    /// ([`Self::order_flow_feed`] in one chunk); returns the record count.
    pub fn order_flow_backlog(&self, topics: &OrderFlowTopics, orders: usize) -> usize {
        let (chunks, _) = self.order_flow_feed(topics, orders, 1, 200, &["A", "B"]);
        let [placed, statuses, levels] = &chunks[0];
        self.produce(&topics.placed, placed);
        self.produce(&topics.status, statuses);
        self.produce(&topics.levels, levels);
        placed.len() + statuses.len() + levels.len()
    }

    /// An order-flow feed encoded up front, so registry round trips stay out of the timed part:
    /// `orders` orders (`o{i}`, with `lines`, then 3 statuses each) and one stock level per
    /// order over `skus` SKUs (`reserved` = the order's index), in `chunks` even chunks.
    /// Returns the chunks and the last `reserved` per SKU, what the sink must end with.
    pub fn order_flow_feed(
        &self,
        topics: &OrderFlowTopics,
        orders: usize,
        chunks: usize,
        skus: usize,
        lines: &[&str],
    ) -> (Vec<Chunk>, BTreeMap<String, i32>) {
        use crate::fixtures::{level, order, status};
        let mut out = Vec::new();
        let mut last_reserved = BTreeMap::new();
        let per_chunk = orders / chunks;
        for c in 0..chunks {
            let mut chunk: Chunk = Default::default();
            for i in c * per_chunk..(c + 1) * per_chunk {
                let id = format!("o{i}");
                chunk[0].push((id.clone(), self.encode(&topics.placed, &order(&id, lines))));
                for seq in 1..=3 {
                    chunk[1].push((id.clone(), self.encode(&topics.status, &status(&id, seq))));
                }
                let sku = format!("S{}", i % skus);
                let reserved = i32::try_from(i).expect("small test");
                chunk[2].push((
                    sku.clone(),
                    self.encode(&topics.levels, &level(&sku, 1_000_000, reserved)),
                ));
                last_reserved.insert(sku, reserved);
            }
            out.push(chunk);
        }
        (out, last_reserved)
    }

    /// Feeds `chunks` to `topics` while SIGKILLing the sink `kills` times at even intervals,
    /// each time only once `progress()` moved since that incarnation started (mid-stream, not
    /// during start-up), and restarting it with `spawn`. Returns the running incarnation and
    /// the kills done.
    pub fn feed_with_kills<P: PartialEq>(
        &self,
        topics: &OrderFlowTopics,
        chunks: &[Chunk],
        kills: usize,
        progress: impl Fn() -> P,
        mut spawn: impl FnMut() -> ChildProc,
    ) -> (ChildProc, usize) {
        let every = (chunks.len() / kills.max(1)).max(1);
        let mut sink = spawn();
        let mut at_start = progress();
        let mut done = 0;
        for (c, [placed, statuses, levels]) in chunks.iter().enumerate() {
            self.produce(&topics.placed, placed);
            self.produce(&topics.status, statuses);
            self.produce(&topics.levels, levels);
            std::thread::sleep(Duration::from_millis(150));
            if c % every == every - 1 && done < kills {
                let deadline = Instant::now() + Duration::from_secs(30);
                while progress() == at_start && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                sink.kill9();
                done += 1;
                at_start = progress();
                sink = spawn();
            }
        }
        (sink, done)
    }

    /// Every committed record of `topic`, read until `quiet` passes without one.
    pub fn read_all(&self, topic: &str, quiet: Duration) -> Vec<OwnedMessage> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.broker.bootstrap)
            .set("group.id", format!("verify-{}", uuid::Uuid::new_v4()))
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .create()
            .expect("consumer");
        c.subscribe(&[topic]).expect("subscribe");
        let mut out = Vec::new();
        let mut last = Instant::now();
        while last.elapsed() < quiet {
            if let Some(r) = c.poll(Duration::from_millis(100)) {
                out.push(r.expect("record").detach());
                last = Instant::now();
            }
        }
        out
    }
}

impl Drop for SinkEnv {
    fn drop(&mut self) {
        if let Some(r) = self.registry.take() {
            self.rt.block_on(r.shutdown());
        }
    }
}
