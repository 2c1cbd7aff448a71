//! The Kafka side of an exactly-once sink: a connector (MySQL, Redis, …) implements [`Sink`]
//! and [`SinkRunner`] feeds it batches from a read_committed consumer.
//!
//! Exactly-once effects come from the sink's own store, not from Kafka: a batch's effects and
//! its consumed offsets become durable together (one DB transaction, or an offset-guarded
//! script), and on every assignment the consumer starts each partition at the offset the sink
//! reports ([`Sink::stored_offsets`]). Offsets committed to the group afterwards serve lag
//! dashboards only. A record delivered below the sink's position is dropped by the loop.
//!
//! # Layout
//! - this file: [`Sink`] (stage → commit, rollback), [`Reject`], [`SinkError`],
//!   [`next_offsets`].
//! - [`config`]: [`SinkConfig`] (batch size, linger, back-off), read from the environment.
//! - `context`: the consumer context; assigns partitions at the sink's offsets inside the
//!   rebalance callback, so no record from Kafka's own position is ever fetched first.
//! - `runner`: [`SinkRunner`], the loop on its own thread (batching, retries, metrics);
//!   `dlq`: producing the rejects to `<topic>.dlq`.
//! - [`decode`]: Avro decoding of a record into a value or a [`Reject`].
//! - [`service`]: a sink binary's `main` (admin endpoints, SIGTERM → finish the batch, exit 0).
//!
//! # A batch
//! 1. [`Sink::stage`] writes the batch without making it durable (an open DB transaction, or
//!    commands prepared) and returns the records it cannot apply ([`Reject`]: undecodable, a
//!    constraint violation), which must not leave partial effects.
//! 2. The loop produces the rejects to `<topic>.dlq` (runtime `dlq.*` headers) and waits for
//!    the acknowledgement, so a dead letter is never lost; after a crash between 2 and 3 it
//!    is produced again (dead letters are at-least-once, keyed by their source offset header).
//! 3. [`Sink::commit`] makes effects and the batch's [`next_offsets`] durable atomically.
//!
//! A [`SinkError::Transient`] (database down) rolls back and retries the batch with
//! exponential back-off, never dead-letters; [`SinkError::Fatal`] stops the loop (exit 1).

pub mod config;
mod context;
pub mod decode;
mod dlq;
mod runner;
pub mod service;

use std::collections::{BTreeMap, HashMap};

pub use config::SinkConfig;
pub use runner::{SinkRunner, SinkStats};

use crate::InputRecord;

pub use crate::rebalance::Tp;

/// A record the sink cannot apply; it goes to the dead-letter topic and the batch continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Index of the record in the staged batch.
    pub index: usize,
    /// Short stable kind, the `dlq.error.class` header (`avro-decode`, `constraint`, …).
    pub class: String,
    /// Human-readable reason, the `dlq.error.message` header.
    pub reason: String,
}

/// Why a sink call failed; the variant decides what the loop does.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Not the batch's fault (connection lost, deadlock, server restarting): roll back and
    /// retry the same batch after a back-off.
    #[error("transient: {0}")]
    Transient(String),
    /// A bug or misconfiguration (missing table, bad credentials): stop, exit non-zero.
    #[error("fatal: {0}")]
    Fatal(String),
}

/// A connector's store. The loop calls it from one thread, one call at a time, through a
/// tokio runtime it owns.
// The loop drives these futures with `block_on` on its own thread, so they need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Sink: Send + 'static {
    /// The next offset to read for each of `partitions`, from the sink's own store; a
    /// partition the sink has never seen is absent (read from the beginning).
    async fn stored_offsets(&mut self, partitions: &[Tp]) -> Result<HashMap<Tp, i64>, SinkError>;

    /// Writes `batch` (in offset order per partition) without making it durable; returns the
    /// records that must be dead-lettered instead. Records below the stored offsets (a
    /// zombie's late batch) must be skipped.
    async fn stage(&mut self, batch: &[InputRecord]) -> Result<Vec<Reject>, SinkError>;

    /// Makes the staged batch and its [`next_offsets`] durable, atomically.
    async fn commit(&mut self) -> Result<(), SinkError>;

    /// Discards a staged batch (after a failed stage or dead-letter write).
    async fn rollback(&mut self);
}

/// The offset after the last record of each partition in `batch`: what the sink stores with
/// the batch's effects.
pub fn next_offsets(batch: &[InputRecord]) -> BTreeMap<Tp, i64> {
    let mut out: BTreeMap<Tp, i64> = BTreeMap::new();
    for r in batch {
        let e = out
            .entry((r.meta.topic.clone(), r.meta.partition))
            .or_insert(0);
        *e = (*e).max(r.meta.offset + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RecordMetadata;

    fn rec(topic: &str, partition: i32, offset: i64) -> InputRecord {
        InputRecord {
            key: None,
            value: None,
            meta: RecordMetadata {
                topic: topic.into(),
                partition,
                offset,
                timestamp: None,
                headers: Vec::new(),
            },
        }
    }

    #[test]
    fn next_offsets_is_one_past_the_last_record_per_partition() {
        let b = [
            rec("a", 0, 5),
            rec("a", 1, 2),
            rec("a", 0, 7),
            rec("b", 0, 0),
        ];
        let n = next_offsets(&b);
        assert_eq!(n[&("a".into(), 0)], 8);
        assert_eq!(n[&("a".into(), 1)], 3);
        assert_eq!(n[&("b".into(), 0)], 1);
    }
}
