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

/// A processor: domain logic over one record at a time. Implementations should keep all state
/// in stores: the runtime re-runs records after an aborted transaction or a crash and only
/// store state is rolled back / restored with them.
pub trait Processor: Send + 'static {
    /// Names of the state stores this processor uses (each backed by the compacted topic
    /// `<app>.<store>-changelog`). Names starting with `_` are reserved for the runtime.
    fn stores(&self) -> Vec<String>;

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
    emits: &'a mut Vec<OutputRecord>,
    meta: &'a RecordMetadata,
    now_ms: i64,
    avro: Option<&'a AvroIo>,
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
            emits,
            meta,
            now_ms,
            avro,
        }
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
        self.emits.push(OutputRecord {
            topic: topic.to_owned(),
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers,
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
        .map(|n| {
            (
                (*n).to_owned(),
                KeyValueStore::new(n, std::collections::HashMap::new()),
            )
        })
        .collect()
}
