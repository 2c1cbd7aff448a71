//! `techpotli-runtime`: the one place processors talk to Kafka. A processor implements
//! [`Processor`] (pure logic over one record, its state stores, timers and an outbox) and the
//! runtime gives it exactly-once semantics within Kafka: each batch's outputs, changelog
//! writes, fired timers, dead letters and consumed offsets commit in one transaction (EOS v2,
//! KIP-447), state is restored from compacted changelogs on assignment, and a restarted
//! instance fences its zombie through its stable `transactional.id`.
//!
//! # Layout
//! - [`processor`] module: the API domain code sees — [`Processor`], [`InputRecord`],
//!   [`Context`] (stores, `emit`/`emit_avro`, `decode`, timers, clock, metadata),
//!   [`ProcessError`] (dead-letter, retry or stop).
//! - [`store`] module: [`KeyValueStore`] (in memory, journaled for undo and changelog) and
//!   [`StoreCodec`], the versioned binary encoding of store values.
//! - [`timers`] module: durable wall-clock and stream-time timers in the reserved `_timers`
//!   store.
//! - [`avro`] module: [`AvroIo`], the registry codec driven from the blocking loop thread.
//! - [`config`] module: [`RuntimeConfig`], read from the environment (and an optional TOML
//!   file) and validated; [`config::load`] for processors' own settings.
//! - [`service`] module: a processor binary's `main` — logs, admin endpoints, signals, exit codes.
//! - [`metrics`] module: the Prometheus series the runtime records.
//! - [`changelog`] module: topic names, creation of changelog/DLQ topics, restore.
//! - `engine` (loop, polling, rebalance handling, restore) and `batch` (one transaction:
//!   process, fire timers, changelog, offsets, commit or abort and rewind); `rebalance`: the
//!   consumer context (assignment events, lag from statistics); `txn`: transactional sends
//!   and error classes.
//! - [`demo`] module: `RunningTotal` and `DelayedEcho`, the reference processors of the tests,
//!   the `demo` example binary and `techpotli bench runtime`.
//! - this file: [`Runtime`], the handle (spawn, readiness, stats, stop) and [`RuntimeError`].
//!
//! # How the guarantees are kept (and their limits)
//! - No transaction is open while the consumer polls: a batch is collected first, then
//!   processed and committed in one go. Rebalance callbacks (which run inside `poll`) therefore
//!   never meet an open transaction; revoked partitions' state is dropped, newly assigned
//!   partitions are restored from their changelog before any of their records is processed.
//! - Store writes (timers included) are journaled per batch: a dead-lettered record's writes
//!   are undone, an aborted transaction undoes the whole batch and seeks back to the batch's
//!   first offsets. A fired timer is deleted in the transaction that carries what it emitted,
//!   so after a crash it fires again only if that transaction did not commit.
//! - Retriable processing errors (registry briefly unreachable) abort and retry the batch with
//!   back-off; fatal errors (fenced by a newer instance with the same id, a broker-side
//!   transaction timeout — which fences the producer, as in Apache Kafka — a failing
//!   processor, corrupt state, 10 aborts in a row) end the loop with a [`RuntimeError`]; the
//!   binary exits non-zero for the supervisor to restart it.
//! - Memory: every key of every owned store partition is held in memory (see [`store`]);
//!   restore runs on the loop thread between polls and must finish within
//!   `max.poll.interval.ms` (5 min).
//! - Static members (the default) do not send LeaveGroup on shutdown (KIP-345): their
//!   partitions wait `session.timeout.ms` for them to come back, which is what makes rolling
//!   restarts rebalance-free; `TECHPOTLI_STATIC_MEMBERSHIP=false` makes instances leave.

pub mod avro;
mod batch;
pub mod changelog;
pub mod cli;
pub mod config;
pub mod demo;
mod engine;
mod globals;
pub mod metrics;
pub mod processor;
mod rebalance;
mod recovery;
pub mod service;
pub mod sink;
pub mod store;
mod tables;
pub mod timers;
mod txn;
pub mod window_op;
pub mod windows;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

pub use avro::AvroIo;
pub use batch::APP_HEADER;
pub use config::RuntimeConfig;
pub use processor::{
    Context, Headers, InputRecord, OutputRecord, ProcessError, Processor, RecordMetadata,
    TableSpec, TableUpdate, Tables,
};
pub use store::{KeyValueStore, StoreCodec};
pub use timers::{FiredTimer, Timer, TimerKind};
pub use window_op::{Aggregate, WindowOp, WindowResult};
pub use windows::{Window, WindowSpec};

/// Why the runtime stopped. Every variant means "exit non-zero and let the supervisor start a
/// fresh instance".
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A fatal transactional error, typically fencing by a newer instance with the same id.
    #[error("fatal transaction error (fenced by a newer instance?): {0}")]
    Fatal(rdkafka::error::KafkaError),
    #[error("processor: {0}")]
    Process(ProcessError),
    #[error("restore: {0}")]
    Restore(String),
    #[error("runtime thread panicked")]
    Panicked,
}

/// Counters and flags shared between the loop thread and the handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    stop: AtomicBool,
    ready: AtomicBool,
    finished: AtomicBool,
    processed: AtomicU64,
    dead_lettered: AtomicU64,
    timers_fired: AtomicU64,
    commits: AtomicU64,
    aborts: AtomicU64,
}

/// Counters since start. `processed` counts records in committed transactions (dead-lettered
/// ones included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub processed: u64,
    pub dead_lettered: u64,
    pub timers_fired: u64,
    pub commits: u64,
    pub aborts: u64,
}

/// A running instance: the loop runs on a dedicated thread so its blocking librdkafka calls
/// never occupy an async worker.
pub struct Runtime {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), RuntimeError>>>,
}

impl Runtime {
    /// Starts `processor` under `config`. Start-up (topic creation, `init_transactions`,
    /// subscribe) happens on the new thread; its errors surface from [`Runtime::join`].
    pub fn spawn<P: Processor>(config: RuntimeConfig, processor: P) -> Result<Self, RuntimeError> {
        config.validate().map_err(RuntimeError::Config)?;
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("runtime-{}", config.instance_id))
            .spawn(move || {
                let app = config.app_id.clone();
                let result = engine::Engine::start(config, processor, s.clone())
                    .and_then(engine::Engine::run);
                if let Err(e) = &result {
                    // Said here too: a caller that only holds the handle would never know.
                    tracing::error!(%app, error = %e, "runtime stopped on an error");
                }
                s.finished.store(true, Ordering::Relaxed);
                result
            })
            .map_err(|e| RuntimeError::Config(format!("spawning the runtime thread: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// True once an assignment was received and no restore is pending (for `/readyz`).
    pub fn ready(&self) -> bool {
        self.shared.ready.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> Stats {
        let s = &self.shared;
        Stats {
            processed: s.processed.load(Ordering::Relaxed),
            dead_lettered: s.dead_lettered.load(Ordering::Relaxed),
            timers_fired: s.timers_fired.load(Ordering::Relaxed),
            commits: s.commits.load(Ordering::Relaxed),
            aborts: s.aborts.load(Ordering::Relaxed),
        }
    }

    /// A readiness probe for `/readyz`: ready while the loop runs with its state restored.
    pub fn readiness(&self) -> techpotli_telemetry::Readiness {
        let shared = self.shared.clone();
        Arc::new(move || {
            shared.ready.load(Ordering::Relaxed) && !shared.finished.load(Ordering::Relaxed)
        })
    }

    /// Asks the loop to stop after the current batch commits, without waiting.
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    /// Whether the loop has ended (stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Asks the loop to stop after the current batch commits, waits for it and returns the
    /// final counters (read any earlier and the last batch may be missing).
    pub fn stop(mut self) -> Result<Stats, RuntimeError> {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.wait().map(|()| self.stats())
    }

    /// Waits for the loop to end by itself (it only does on a fatal error).
    pub fn join(mut self) -> Result<Stats, RuntimeError> {
        self.wait().map(|()| self.stats())
    }

    fn wait(&mut self) -> Result<(), RuntimeError> {
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| RuntimeError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = self.wait();
    }
}
