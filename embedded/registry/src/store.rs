//! The `_schemas` topic as the registry's only storage (Confluent's KafkaStore design): a
//! reader applies every record to the in-memory `State`; a write produces a record and waits
//! until the reader has applied it, so every instance converges and restarts lose nothing.

use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::state::{Key, State};

/// How long a write waits for its own record to come back through the reader.
const READ_BACK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening waits for the topic's leader (a node just started, a cluster electing).
const LEADER_WAIT: Duration = Duration::from_secs(60);

/// Why the store could not complete an operation (HTTP 500, Confluent code 50001/50002).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the write was not read back from {0} in time")]
    ReadBackTimeout(String),
    #[error("encoding: {0}")]
    Encode(#[from] serde_json::Error),
}

pub struct Store {
    topic: String,
    state: Arc<RwLock<State>>,
    producer: FutureProducer,
    applied: watch::Receiver<i64>,
    /// Serialises writers in this instance so id and version allocation cannot race.
    pub write_lock: Mutex<()>,
}

async fn ensure_topic(bootstrap: &str, topic: &str) -> Result<(), StoreError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    // -1: the cluster's default.replication.factor, so a cluster's registry survives a broker.
    let spec =
        NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
    for r in admin.create_topics([&spec], &AdminOptions::new()).await? {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(rdkafka::error::KafkaError::AdminOp(code).into()),
        }
    }
    Ok(())
}

/// Errors of a topic just created or a cluster failing over: Apache Kafka answers CreateTopics
/// before the partition has a leader.
fn transient(e: &rdkafka::error::KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::OperationTimedOut
                | C::RequestTimedOut
                | C::BrokerTransportFailure
                | C::AllBrokersDown
                | C::LeaderNotAvailable
                | C::NotLeaderForPartition
                | C::UnknownTopicOrPartition
                | C::UnknownPartition
        )
    )
}

/// The topic's high watermark, waiting up to [`LEADER_WAIT`] for its leader.
fn high_watermark(consumer: &StreamConsumer, topic: &str) -> Result<i64, StoreError> {
    let deadline = std::time::Instant::now() + LEADER_WAIT;
    loop {
        match consumer.fetch_watermarks(topic, 0, Duration::from_secs(5)) {
            Ok((_, high)) => return Ok(high),
            Err(e) if transient(&e) && std::time::Instant::now() < deadline => {
                tracing::warn!(topic, error = %e, "schema store waits for its topic's leader");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

impl Store {
    /// Creates the topic if needed, loads it to the end, then keeps following it.
    pub async fn open(
        bootstrap: &str,
        topic: &str,
    ) -> Result<(Arc<Self>, JoinHandle<()>), StoreError> {
        ensure_topic(bootstrap, topic).await?;
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "techpotli-registry-reader")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
        consumer.assign(&tpl)?;
        let high = high_watermark(&consumer, topic)?;
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0")
            .create()?;
        let state = Arc::new(RwLock::new(State::default()));
        let (tx, mut applied) = watch::channel(0i64);
        let reader_state = state.clone();
        let reader = tokio::spawn(async move {
            loop {
                match consumer.recv().await {
                    Ok(m) => {
                        if let Some(key) = m.key() {
                            reader_state
                                .write()
                                .expect("state lock")
                                .apply(key, m.payload());
                        }
                        let _ = tx.send(m.offset() + 1);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reading _schemas");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        if high > 0 {
            tokio::time::timeout(Duration::from_secs(60), applied.wait_for(|o| *o >= high))
                .await
                .map_err(|_| StoreError::ReadBackTimeout(topic.to_owned()))?
                .map_err(|_| StoreError::ReadBackTimeout(topic.to_owned()))?;
        }
        tracing::info!(topic, records = high, "schema store loaded");
        let store = Self {
            topic: topic.to_owned(),
            state,
            producer,
            applied,
            write_lock: Mutex::new(()),
        };
        Ok((Arc::new(store), reader))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().expect("state lock")
    }

    /// Appends a record (`None` = tombstone) and returns once the reader has applied it.
    pub async fn write(&self, key: &Key, value: Option<Vec<u8>>) -> Result<(), StoreError> {
        let key = serde_json::to_vec(key)?;
        let mut record = FutureRecord::to(&self.topic).key(&key).partition(0);
        if let Some(v) = &value {
            record = record.payload(v);
        }
        let delivery = self
            .producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| StoreError::Kafka(e))?;
        let mut applied = self.applied.clone();
        tokio::time::timeout(
            READ_BACK_TIMEOUT,
            applied.wait_for(|o| *o > delivery.offset),
        )
        .await
        .map_err(|_| StoreError::ReadBackTimeout(self.topic.clone()))?
        .map_err(|_| StoreError::ReadBackTimeout(self.topic.clone()))?;
        Ok(())
    }
}
