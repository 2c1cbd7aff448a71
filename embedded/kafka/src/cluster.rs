//! Topics, partitions and producer ids: the broker's data-plane state, guarded by one lock.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::ResponseError;
use uuid::Uuid;

use crate::log::config::{ConfigError, TopicConfig};
use crate::log::partition::PartitionLog;
use crate::log::segment::AppendAt;
use crate::txn::TxnMeta;

/// Kafka's limit on topic name length.
const MAX_TOPIC_NAME: usize = 249;
/// Upper bound on partitions per topic, so one request cannot exhaust memory.
pub const MAX_PARTITIONS: i32 = 10_000;

/// One topic: its id, configs and partition logs.
#[derive(Debug)]
pub struct Topic {
    pub id: Uuid,
    pub config: TopicConfig,
    pub partitions: Vec<PartitionLog>,
}

/// Why a topic could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("Topic '{0}' already exists.")]
    Exists(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("Number of partitions must be between 1 and 10000 (got {0}).")]
    Partitions(i32),
    #[error("Replication factor must be 1 or -1 on a single broker (got {0}).")]
    Replication(i16),
    #[error("{0}")]
    Assignment(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl CreateError {
    pub fn code(&self) -> ResponseError {
        match self {
            Self::Exists(_) => ResponseError::TopicAlreadyExists,
            Self::InvalidName(_) => ResponseError::InvalidTopicException,
            Self::Partitions(_) => ResponseError::InvalidPartitions,
            Self::Replication(_) => ResponseError::InvalidReplicationFactor,
            Self::Assignment(_) => ResponseError::InvalidReplicaAssignment,
            Self::InvalidRequest(_) => ResponseError::InvalidRequest,
            Self::Config(_) => ResponseError::InvalidConfig,
        }
    }
}

/// Checks a topic name the way Kafka's `Topic.validate` does.
pub fn validate_topic_name(name: &str) -> Result<(), CreateError> {
    let bad = |why: &str| {
        Err(CreateError::InvalidName(format!(
            "Topic name '{name}' {why}"
        )))
    };
    if name.is_empty() {
        return bad("is empty");
    }
    if name == "." || name == ".." {
        return bad("cannot be '.' or '..'");
    }
    if name.len() > MAX_TOPIC_NAME {
        return bad("is longer than 249 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("contains characters other than ASCII alphanumerics, '.', '_' and '-'");
    }
    Ok(())
}

/// Topics, transactional ids and the producer id counter.
#[derive(Debug, Default)]
pub struct Cluster {
    pub topics: BTreeMap<String, Topic>,
    pub txns: HashMap<String, TxnMeta>,
    pub next_producer_id: i64,
}

impl Cluster {
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionLog> {
        self.topics
            .get(topic)?
            .partitions
            .get(usize::try_from(partition).ok()?)
    }

    pub fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionLog> {
        self.topics
            .get_mut(topic)?
            .partitions
            .get_mut(usize::try_from(partition).ok()?)
    }

    /// The clock and the topic's settings for an append to `topic` at `now_ms`.
    pub fn append_at(&self, topic: &str, now_ms: i64) -> AppendAt {
        let config = self.topics.get(topic).map(|t| &t.config);
        AppendAt::of(config.unwrap_or(&TopicConfig::default()), now_ms)
    }

    /// Creates a topic after validating every argument; nothing changes on error.
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication: i16,
        config: TopicConfig,
    ) -> Result<&Topic, CreateError> {
        validate_topic_name(name)?;
        if self.topics.contains_key(name) {
            return Err(CreateError::Exists(name.to_owned()));
        }
        if partitions <= 0 || partitions > MAX_PARTITIONS {
            return Err(CreateError::Partitions(partitions));
        }
        if replication != 1 && replication != -1 {
            return Err(CreateError::Replication(replication));
        }
        let topic = Topic {
            id: Uuid::new_v4(),
            config,
            partitions: (0..partitions).map(|_| PartitionLog::default()).collect(),
        };
        Ok(self.topics.entry(name.to_owned()).or_insert(topic))
    }

    pub fn allocate_producer_id(&mut self) -> i64 {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.placed").is_ok());
        assert!(validate_topic_name("a_b-c.d").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("has space").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }

    #[test]
    fn create_rejects_duplicates_and_bad_counts() {
        let mut c = Cluster::default();
        c.create_topic("t", 3, 1, TopicConfig::default()).unwrap();
        assert!(matches!(
            c.create_topic("t", 3, 1, TopicConfig::default()),
            Err(CreateError::Exists(_))
        ));
        assert!(matches!(
            c.create_topic("u", 0, 1, TopicConfig::default()),
            Err(CreateError::Partitions(0))
        ));
        assert!(matches!(
            c.create_topic("u", 1, 3, TopicConfig::default()),
            Err(CreateError::Replication(3))
        ));
        assert_eq!(c.partition("t", 2).unwrap().high_watermark(), 0);
        assert!(c.partition("t", 3).is_none());
    }
}
