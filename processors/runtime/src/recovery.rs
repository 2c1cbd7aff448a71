//! Recovering a batch that did not commit: abort and rewind (the batch runs again), and the
//! replacement of a producer librdkafka declared failed. Kept apart from the loop in
//! `batch.rs`, which reads as the protocol.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};

use crate::RuntimeError;
use crate::engine::Engine;
use crate::metrics;
use crate::processor::Processor;
use crate::rebalance::Tp;
use crate::txn::{self, Failure};

/// Consecutive aborted transactions, over at least [`GIVE_UP_AFTER`], after which the instance
/// gives up: a batch that can never commit (e.g. an emit to a topic that does not exist) must
/// not spin forever, while a cluster failing over (a minute of timeouts) must not end it.
const MAX_CONSECUTIVE_ABORTS: u32 = 10;
const GIVE_UP_AFTER: Duration = Duration::from_mins(5);
/// Failed producers replaced without a commit in between before the instance gives up.
const MAX_PRODUCERS_IN_A_ROW: u32 = 5;

impl<P: Processor> Engine<P> {
    /// A producer librdkafka declared failed (e.g. INVALID_TXN_STATE or a fenced epoch after the
    /// transaction coordinator moved and aborted a transaction that outlived the outage): a new
    /// producer under the same transactional id takes over (its InitProducerId aborts whatever
    /// is open), the batch's store writes are undone and its partitions rewound, as after an
    /// abort. Another live instance with this transactional id would fence us again and again:
    /// after [`MAX_PRODUCERS_IN_A_ROW`] replacements without a commit, the instance exits.
    /// The caller has counted the transaction as aborted ([`Self::count_abort`]).
    pub(crate) fn replace_failed_producer(
        &mut self,
        batch: &[OwnedMessage],
        e: RuntimeError,
    ) -> Result<(), RuntimeError> {
        self.producers_in_a_row += 1;
        if self.producers_in_a_row > MAX_PRODUCERS_IN_A_ROW {
            return Err(e);
        }
        tracing::warn!(error = %e, replacements = self.producers_in_a_row,
            "transactional producer failed; replacing it and reprocessing the batch");
        self.producer = crate::engine::transactional_producer(&self.cfg)?;
        self.rollback_and_rewind(batch)
    }

    /// Aborts the open transaction, undoes every store write of the batch and seeks each
    /// partition of the batch back to its first record (= its committed offset: batches are
    /// contiguous and the previous one committed).
    pub(crate) fn abort_and_rewind(&mut self, batch: &[OwnedMessage]) -> Result<(), RuntimeError> {
        self.count_abort();
        self.aborts_in_a_row += 1;
        if self.aborts_in_a_row == 1 {
            self.aborting_since = Instant::now();
        }
        let producer = &self.producer;
        let timeout = self.cfg.transaction_timeout;
        match txn::call(producer, || producer.abort_transaction(timeout)) {
            Ok(()) => {}
            Err(Failure::Abortable(e)) => return Err(RuntimeError::Fatal(e)),
            Err(Failure::Retry(why)) => return Err(RuntimeError::Config(why)),
            Err(Failure::Fatal(e)) if self.producer.client().fatal_error().is_some() => {
                return self.replace_failed_producer(batch, e);
            }
            Err(Failure::Fatal(e)) => return Err(e),
        }
        if self.aborts_in_a_row > MAX_CONSECUTIVE_ABORTS
            && self.aborting_since.elapsed() > GIVE_UP_AFTER
        {
            return Err(RuntimeError::Config(format!(
                "{} transactions in a row aborted over {:?}; giving up",
                self.aborts_in_a_row,
                self.aborting_since.elapsed()
            )));
        }
        self.rollback_and_rewind(batch)
    }

    /// One transaction that did not commit: in `stats().aborts` and `runtime_aborted_total`,
    /// once however it was ended (aborted, or its failed producer replaced).
    pub(crate) fn count_abort(&self) {
        self.shared.aborts.fetch_add(1, Ordering::Relaxed);
        metrics::aborted(&self.cfg.app_id);
    }

    /// Undoes every store write of the batch and seeks each partition of the batch back to
    /// its first record.
    fn rollback_and_rewind(&mut self, batch: &[OwnedMessage]) -> Result<(), RuntimeError> {
        for task in self.tasks.values_mut() {
            task.stores
                .values_mut()
                .chain(task.tables.values_mut())
                .for_each(|s| s.rollback_to(0));
        }
        let mut first: BTreeMap<Tp, i64> = BTreeMap::new();
        for m in batch {
            first
                .entry((m.topic().to_owned(), m.partition()))
                .or_insert(m.offset());
        }
        if first.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in &first {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))?;
        }
        let res = self
            .consumer
            .seek_partitions(tpl, Duration::from_secs(10))?;
        for e in res.elements() {
            if let Err(err) = e.error() {
                return Err(RuntimeError::Kafka(err));
            }
        }
        Ok(())
    }
}
