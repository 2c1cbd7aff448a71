//! The processor API: what domain code implements and sees. Nothing here names rdkafka, so a
//! processor's logic is a deterministic function of (stores, record) → (store writes, emits)
//! and can be unit-tested with [`Context::for_test`].

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use techpotli_schemas::{AvroRecord, CodecError};
use techpotli_telemetry::TraceParent;
use techpotli_telemetry::trace;

use crate::avro::AvroIo;
use crate::store::KeyValueStore;
use crate::timers::{self, FiredTimer, TIMERS, Timer, TimerKind};

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
    /// The record's timestamp; `None`: the producer's clock at send.
    pub timestamp: Option<i64>,
    /// The partition to write to; `None`: the key's (see [`Context::broadcast`]).
    pub partition: Option<i32>,
}

/// Why `process` failed. The variant decides what the runtime does, so choose it for that:
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The record breaks a domain invariant: dead-letter it (class `invariant`), undo its
    /// store writes and emits, keep going.
    #[error("invariant violated: {0}")]
    Invariant(String),
    /// The record cannot be decoded. Dead-lettered with the codec's class unless the failure
    /// is transient (registry unreachable), which is retried like [`ProcessError::Retriable`]
    /// rather than dead-lettering good records.
    #[error("cannot decode record: {0}")]
    Decode(#[from] CodecError),
    /// Not the record's fault and may pass (a dependency briefly down): the transaction is
    /// aborted, the batch rewound and retried after a back-off; the instance gives up (exits
    /// non-zero) after repeated failures.
    #[error("retriable: {0}")]
    Retriable(String),
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

    /// Whether the batch should be aborted and retried rather than the instance stopped.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Retriable(_) => true,
            Self::Decode(e) => e.is_transient(),
            _ => false,
        }
    }

    /// An encoding failure: transient registry trouble is retriable, anything else (schema
    /// not registered, a value that does not fit its schema) is a bug or a deployment error.
    pub fn from_encode(e: CodecError) -> Self {
        if e.is_transient() {
            Self::Retriable(e.to_string())
        } else {
            Self::Fatal(format!("encoding an output: {e}"))
        }
    }
}

/// A compacted topic read as a table: its records upsert (a tombstone deletes) a read-only
/// store that the processor looks up by `name` ([`Context::table`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub topic: String,
}

impl TableSpec {
    pub fn new(name: &str, topic: &str) -> Self {
        Self {
            name: name.to_owned(),
            topic: topic.to_owned(),
        }
    }
}

/// A change of a co-partitioned table, as handed to [`Processor::on_table`] after the table
/// store was updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableUpdate {
    pub table: String,
    pub key: Vec<u8>,
    /// The record's value before (`None`: the key was absent).
    pub old: Option<Vec<u8>>,
    /// The new value (`None`: a tombstone deleted the key).
    pub new: Option<Vec<u8>>,
}

/// A processor: domain logic over one record at a time. Implementations should keep all state
/// in stores: the runtime re-runs records after an aborted transaction or a crash and only
/// store state is rolled back / restored with them.
pub trait Processor: Send + 'static {
    /// Names of the state stores this processor uses (each backed by the compacted topic
    /// `<app>.<store>-changelog`). Names starting with `_` are reserved for the runtime.
    fn stores(&self) -> Vec<String>;

    /// Compacted topics read as tables **co-partitioned** with the inputs (the same partition
    /// count; partition `p` belongs to task `p`), e.g. prices by SKU beside cart lines
    /// repartitioned by SKU. The topic is its own changelog: on assignment the runtime
    /// rebuilds the table from the topic up to the group's committed offset, then keeps it
    /// current in the same transactions as the inputs, so a join restarts exactly where it
    /// committed.
    fn tables(&self) -> Vec<TableSpec> {
        Vec::new()
    }

    /// Compacted topics read **whole** by every instance (e.g. price rules by category,
    /// customer profiles): bootstrapped to their end before the first input record is
    /// processed (the instance is not ready until then) and kept current between batches.
    /// Lookups only: updates do not call [`Processor::on_table`] and are not part of the
    /// input transactions (as with Kafka Streams' global tables).
    fn global_tables(&self) -> Vec<TableSpec> {
        Vec::new()
    }

    /// Names of the repartition topics this processor re-keys records through
    /// ([`Context::repartition`]): `<app>.<name>-repartition`, created by the runtime with the
    /// inputs' partition count and consumed by this processor like an input, so a join on
    /// another key stays exactly-once end to end.
    fn repartitions(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether the runtime should create `<input>.late` for every input (window operators send
    /// records that arrive after their window closed there).
    fn late_topics(&self) -> bool {
        false
    }

    /// A co-partitioned table changed (its store already holds `update.new`). Runs in the
    /// transaction of the table record; a processor that keeps derived state (open carts that
    /// hold a SKU) re-computes here. Default: nothing.
    fn on_table(&mut self, update: TableUpdate, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let _ = (update, ctx);
        Ok(())
    }

    /// Handles one record.
    fn process(&mut self, record: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError>;

    /// Handles a timer this processor scheduled, in the transaction that deletes it. The
    /// context is that of the timer's partition; its metadata has offset `-1`, the timer's
    /// time as timestamp and the scheduling record's `traceparent`.
    fn on_timer(&mut self, timer: FiredTimer, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let _ = ctx;
        Err(ProcessError::Fatal(format!(
            "timer {:?} fired but the processor does not implement on_timer",
            String::from_utf8_lossy(&timer.key)
        )))
    }
}

/// What `process` may touch: the stores and timers of the record's partition, the outbox, the
/// record's metadata, the clock and (when configured) the Avro codec.
pub struct Context<'a> {
    stores: &'a mut BTreeMap<String, KeyValueStore>,
    tables: Tables<'a>,
    emits: &'a mut Vec<OutputRecord>,
    meta: &'a RecordMetadata,
    now_ms: i64,
    avro: Option<&'a AvroIo>,
    app: &'a str,
    /// Partition count of the inputs, tasks and repartition topics.
    partitions: i32,
}

/// The tables a context may read: the task's co-partitioned ones and the global ones.
#[derive(Clone, Copy, Default)]
pub struct Tables<'a> {
    pub task: Option<&'a BTreeMap<String, KeyValueStore>>,
    pub global: Option<&'a BTreeMap<String, KeyValueStore>>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        stores: &'a mut BTreeMap<String, KeyValueStore>,
        emits: &'a mut Vec<OutputRecord>,
        meta: &'a RecordMetadata,
        now_ms: i64,
        avro: Option<&'a AvroIo>,
    ) -> Self {
        Self {
            stores,
            tables: Tables::default(),
            emits,
            meta,
            now_ms,
            avro,
            app: "test",
            partitions: 1,
        }
    }

    /// Gives the context the tables it may read (task and global).
    #[must_use]
    pub fn with_tables(mut self, tables: Tables<'a>) -> Self {
        self.tables = tables;
        self
    }

    /// Sets the application id (it names repartition topics; tests see `test`).
    #[must_use]
    pub fn with_app(mut self, app: &'a str) -> Self {
        self.app = app;
        self
    }

    /// Sets the partition count of the inputs (what [`Context::broadcast`] writes to; tests
    /// see 1 unless set).
    #[must_use]
    pub fn with_partitions(mut self, partitions: i32) -> Self {
        self.partitions = partitions.max(1);
        self
    }

    /// A context over caller-owned stores (see [`test_stores`]) and outbox, for unit tests of
    /// processors; the clock reads `0` until [`Context::with_now`].
    pub fn for_test(
        stores: &'a mut BTreeMap<String, KeyValueStore>,
        emits: &'a mut Vec<OutputRecord>,
        meta: &'a RecordMetadata,
    ) -> Self {
        Self::new(stores, emits, meta, 0, None)
    }

    /// Sets the wall clock a test sees.
    #[must_use]
    pub fn with_now(mut self, now_ms: i64) -> Self {
        self.now_ms = now_ms;
        self
    }

    /// Gives a test context an Avro codec.
    #[must_use]
    pub fn with_avro(mut self, avro: &'a AvroIo) -> Self {
        self.avro = Some(avro);
        self
    }

    /// The partition of store `name` that belongs to the current record's partition.
    pub fn store(&mut self, name: &str) -> Result<&mut KeyValueStore, ProcessError> {
        if name.starts_with('_') {
            return Err(ProcessError::State(format!("store {name} is reserved")));
        }
        self.stores
            .get_mut(name)
            .ok_or_else(|| ProcessError::State(format!("unknown store {name}")))
    }

    /// Table `name` (co-partitioned: this record's partition of it; or global: all of it).
    /// Values are the table records' bytes as produced (e.g. Confluent-framed Avro, see
    /// [`Context::table_avro`]); read them with `get_raw`, `range`, `prefix`.
    pub fn table(&self, name: &str) -> Result<&'a KeyValueStore, ProcessError> {
        let (task, global) = (self.tables.task, self.tables.global);
        task.and_then(|t| t.get(name))
            .or_else(|| global.and_then(|g| g.get(name)))
            .ok_or_else(|| ProcessError::State(format!("unknown table {name}")))
    }

    /// The value of `key` in table `name`, decoded as `T` through the registry.
    pub fn table_avro<T: AvroRecord + DeserializeOwned>(
        &self,
        name: &str,
        key: &[u8],
    ) -> Result<Option<T>, ProcessError> {
        match self.table(name)?.get_raw(key) {
            Some(bytes) => Ok(Some(self.avro()?.decode(bytes)?)),
            None => Ok(None),
        }
    }

    /// Re-keys a record through repartition topic `name` (declared in
    /// [`Processor::repartitions`]): produced in this transaction, consumed again by this
    /// processor from the partition `key` hashes to.
    pub fn repartition(&mut self, name: &str, key: &[u8], value: Option<&[u8]>) {
        let topic = crate::changelog::repartition_topic(self.app, name);
        self.emit(&topic, Some(key), value, Vec::new());
    }

    /// Sends a record to **every** partition of repartition topic `name`, in this transaction,
    /// so every task sees it once (a rule that applies to keys on all partitions, say). Each
    /// task keeps its own copy of what it derives from it, in its own store.
    pub fn broadcast(&mut self, name: &str, key: &[u8], value: Option<&[u8]>) {
        let topic = crate::changelog::repartition_topic(self.app, name);
        for p in 0..self.partitions {
            self.push(&topic, Some(key), value, Vec::new(), None, Some(p));
        }
    }

    /// The topic of repartition `name`, to recognise its records in `process`.
    pub fn repartition_topic(&self, name: &str) -> String {
        crate::changelog::repartition_topic(self.app, name)
    }

    fn timers(&mut self) -> Result<&mut KeyValueStore, ProcessError> {
        self.stores
            .get_mut(TIMERS)
            .ok_or_else(|| ProcessError::State("no timer store".into()))
    }

    /// Queues a record to produce when the record has been processed successfully. The
    /// runtime adds `traceparent` (a child of the input's) and `app` headers unless given.
    pub fn emit(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Headers,
    ) {
        self.emit_at(topic, key, value, headers, None);
    }

    /// [`Context::emit`] with the record's timestamp set (e.g. a record passed on as it came).
    pub fn emit_at(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Headers,
        timestamp: Option<i64>,
    ) {
        self.push(topic, key, value, headers, timestamp, None);
    }

    fn push(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Headers,
        timestamp: Option<i64>,
        partition: Option<i32>,
    ) {
        self.emits.push(OutputRecord {
            topic: topic.to_owned(),
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers,
            timestamp,
            partition,
        });
    }

    /// Encodes `value` with `T`'s schema as registered under `<topic>-value` and queues it
    /// (`None`: a tombstone).
    pub fn emit_avro<T: AvroRecord + Serialize>(
        &mut self,
        topic: &str,
        key: &str,
        value: Option<&T>,
    ) -> Result<(), ProcessError> {
        let bytes = match value {
            Some(v) => Some(
                self.avro()?
                    .encode(topic, v)
                    .map_err(ProcessError::from_encode)?,
            ),
            None => None,
        };
        self.emit(topic, Some(key.as_bytes()), bytes.as_deref(), Vec::new());
        Ok(())
    }

    /// Decodes the record's value as `T`; a missing value (tombstone) breaks the invariant.
    pub fn decode<T: AvroRecord + DeserializeOwned>(
        &self,
        value: Option<&[u8]>,
    ) -> Result<T, ProcessError> {
        let bytes =
            value.ok_or_else(|| ProcessError::Invariant("record has no value".to_owned()))?;
        Ok(self.avro()?.decode(bytes)?)
    }

    fn avro(&self) -> Result<&'a AvroIo, ProcessError> {
        self.avro.ok_or_else(|| {
            ProcessError::Fatal("no schema registry configured (SCHEMA_REGISTRY_URL)".into())
        })
    }

    /// Schedules (or moves) wall-clock timer `key` to fire at `at_ms` (ms since the epoch).
    pub fn schedule(&mut self, key: &[u8], at_ms: i64) -> Result<(), ProcessError> {
        self.schedule_timer(key, at_ms, TimerKind::WallClock)
    }

    /// Schedules (or moves) stream-time timer `key`: it fires once this partition's stream time
    /// (largest record timestamp seen) reaches `at_ms`.
    pub fn schedule_stream(&mut self, key: &[u8], at_ms: i64) -> Result<(), ProcessError> {
        self.schedule_timer(key, at_ms, TimerKind::StreamTime)
    }

    fn schedule_timer(&mut self, key: &[u8], at: i64, kind: TimerKind) -> Result<(), ProcessError> {
        let traceparent = self.traceparent().map(|t| t.to_string());
        let timer = Timer {
            kind,
            at,
            traceparent,
        };
        timers::schedule(self.timers()?, key, &timer);
        Ok(())
    }

    /// Cancels timer `key`; returns whether it was scheduled.
    pub fn cancel_timer(&mut self, key: &[u8]) -> Result<bool, ProcessError> {
        Ok(timers::cancel(self.timers()?, key))
    }

    /// Timer `key`, if scheduled.
    pub fn timer(&mut self, key: &[u8]) -> Result<Option<Timer>, ProcessError> {
        timers::get(self.timers()?, key)
    }

    /// The wall clock (ms since the epoch) when the record's batch began processing. Domain
    /// code reads time here, never from the system, so tests control it.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The current record's topic, partition, offset, timestamp and headers.
    pub fn metadata(&self) -> &RecordMetadata {
        self.meta
    }

    /// The record's `traceparent` header, when present and valid.
    pub fn traceparent(&self) -> Option<TraceParent> {
        header(&self.meta.headers, trace::HEADER).and_then(TraceParent::from_bytes)
    }
}

/// The first value of header `name`.
pub fn header<'h>(headers: &'h Headers, name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_slice())
}

/// An empty store map with one store per name plus the timer store, for unit tests of
/// processors.
pub fn test_stores(names: &[&str]) -> BTreeMap<String, KeyValueStore> {
    names
        .iter()
        .chain(std::iter::once(&TIMERS))
        .map(|n| ((*n).to_owned(), KeyValueStore::new(n, BTreeMap::new())))
        .collect()
}
