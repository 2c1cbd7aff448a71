//! The processor API: what domain code implements and sees. Nothing here names rdkafka, so a
//! processor's logic is a deterministic function of (stores, record) → (store writes, emits)
//! and can be unit-tested with [`Context::for_test`].

use std::collections::BTreeMap;

use techpotli_schemas::CodecError;

use crate::store::KeyValueStore;

/// Kafka record headers, in order (keys may repeat, values may be absent on the wire; absent
/// values are read as empty).
pub type Headers = Vec<(String, Vec<u8>)>;

/// Where a record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Record timestamp (ms since the epoch), when the record has one.
    pub timestamp: Option<i64>,
    pub headers: Headers,
}

/// One consumed record, undecoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub meta: RecordMetadata,
}

/// A record a processor asks the runtime to produce, in the same transaction as the input's
/// offset. Partitioned by key with `murmur2_random` (the Java client's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRecord {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Headers,
}

/// Why `process` failed. The variant decides what the runtime does, so choose it for that:
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The record breaks a domain invariant: dead-letter it (class `invariant`), undo its
    /// store writes and emits, keep going.
    #[error("invariant violated: {0}")]
    Invariant(String),
    /// The record cannot be decoded. Dead-lettered with the codec's class unless the failure
    /// is transient (registry unreachable), which is fatal so the instance restarts rather than
    /// dead-lettering good records.
    #[error("cannot decode record: {0}")]
    Decode(#[from] CodecError),
    /// Stored state is corrupt or a store is unknown: a bug, fatal.
    #[error("state: {0}")]
    State(String),
    /// Anything else: fatal, the transaction is aborted and the runtime returns an error.
    #[error("{0}")]
    Fatal(String),
}

impl ProcessError {
    /// `Some(class)` when the record must go to the dead-letter topic.
    pub fn dlq_class(&self) -> Option<&'static str> {
        match self {
            Self::Invariant(_) => Some("invariant"),
            Self::Decode(e) if !e.is_transient() => Some(e.class()),
            _ => None,
        }
    }
}

/// A processor: domain logic over one record at a time. Implementations should keep all state
/// in stores: the runtime re-runs records after an aborted transaction or a crash and only
/// store state is rolled back / restored with them.
pub trait Processor: Send + 'static {
    /// Names of the state stores this processor uses (each backed by the compacted topic
    /// `<app>.<store>-changelog`).
    fn stores(&self) -> Vec<String>;

    /// Handles one record.
    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError>;
}

/// What `process` may touch: the stores of the record's partition, the outbox and the
/// record's metadata.
pub struct Context<'a> {
    stores: &'a mut BTreeMap<String, KeyValueStore>,
    emits: &'a mut Vec<OutputRecord>,
    meta: &'a RecordMetadata,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        stores: &'a mut BTreeMap<String, KeyValueStore>,
        emits: &'a mut Vec<OutputRecord>,
        meta: &'a RecordMetadata,
    ) -> Self {
        Self {
            stores,
            emits,
            meta,
        }
    }

    /// A context over caller-owned stores and outbox, for unit tests of processors.
    pub fn for_test(
        stores: &'a mut BTreeMap<String, KeyValueStore>,
        emits: &'a mut Vec<OutputRecord>,
        meta: &'a RecordMetadata,
    ) -> Self {
        Self::new(stores, emits, meta)
    }

    /// The partition of store `name` that belongs to the current record's partition.
    pub fn store(&mut self, name: &str) -> Result<&mut KeyValueStore, ProcessError> {
        self.stores
            .get_mut(name)
            .ok_or_else(|| ProcessError::State(format!("unknown store {name}")))
    }

    /// Queues a record to produce when the record has been processed successfully.
    pub fn emit(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Headers,
    ) {
        self.emits.push(OutputRecord {
            topic: topic.to_owned(),
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers,
        });
    }

    /// The current record's topic, partition, offset, timestamp and headers.
    pub fn metadata(&self) -> &RecordMetadata {
        self.meta
    }
}

/// An empty store map with one store per name, for unit tests of processors.
pub fn test_stores(names: &[&str]) -> BTreeMap<String, KeyValueStore> {
    names
        .iter()
        .map(|n| {
            (
                (*n).to_owned(),
                KeyValueStore::new(n, std::collections::HashMap::new()),
            )
        })
        .collect()
}
