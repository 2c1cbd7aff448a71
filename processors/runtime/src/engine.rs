//! The exactly-once loop, run on one dedicated std thread (every librdkafka transaction call
//! blocks): collect a batch (≤ `max_batch` records or `commit_interval`) with no transaction
//! open → begin → process each record, producing its emits or its dead letter → produce the
//! changelog of every store key written → `send_offsets_to_transaction` → commit.
//!
//! Because `poll` (and with it every rebalance callback) only runs between transactions, a
//! revocation never meets an open transaction, and an assignment is restored before a record
//! of it is processed.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message, OwnedMessage};
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::changelog::{self, changelog_topic, dlq_topic};
use crate::processor::{Context, InputRecord, OutputRecord, Processor, RecordMetadata};
use crate::rebalance::{RebalanceEvent, RuntimeContext, Tp};
use crate::store::KeyValueStore;
use crate::txn::{self, Failure, TxnProducer};
use crate::{RuntimeConfig, RuntimeError, Shared};

/// Consecutive aborted transactions after which the instance gives up: a batch that can never
/// commit (e.g. an emit to a topic that does not exist) must not spin forever.
const MAX_CONSECUTIVE_ABORTS: u32 = 10;

/// The state of one task (an input partition number across all input topics).
struct Task {
    stores: BTreeMap<String, KeyValueStore>,
}

pub(crate) struct Engine<P: Processor> {
    cfg: RuntimeConfig,
    processor: P,
    /// (store name, changelog topic).
    changelogs: Vec<(String, String)>,
    consumer: BaseConsumer<RuntimeContext>,
    producer: TxnProducer,
    assigned: HashSet<Tp>,
    tasks: BTreeMap<i32, Task>,
    shared: Arc<Shared>,
    aborts_in_a_row: u32,
}

fn to_input(m: &OwnedMessage) -> InputRecord {
    let headers = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default();
    InputRecord {
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        meta: RecordMetadata {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            timestamp: m.timestamp().to_millis(),
            headers,
        },
    }
}

impl<P: Processor> Engine<P> {
    /// Creates missing changelog / DLQ topics, initialises transactions (fencing any zombie
    /// with the same `transactional.id`) and subscribes.
    pub(crate) fn start(
        cfg: RuntimeConfig,
        processor: P,
        shared: Arc<Shared>,
    ) -> Result<Self, RuntimeError> {
        cfg.validate().map_err(RuntimeError::Config)?;
        let stores = processor.stores();
        changelog::ensure_topics(&cfg.bootstrap, &cfg.app_id, &cfg.input_topics, &stores)?;
        let changelogs = stores
            .iter()
            .map(|s| (s.clone(), changelog_topic(&cfg.app_id, s)))
            .collect();
        let txn_ms = cfg.transaction_timeout.as_millis().to_string();
        let producer: TxnProducer = ClientConfig::new()
            .set("bootstrap.servers", &cfg.bootstrap)
            .set("transactional.id", cfg.transactional_id())
            .set("transaction.timeout.ms", &txn_ms)
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .create()?;
        producer
            .init_transactions(cfg.transaction_timeout)
            .map_err(RuntimeError::Fatal)?;
        let consumer: BaseConsumer<RuntimeContext> = ClientConfig::new()
            .set("bootstrap.servers", &cfg.bootstrap)
            .set("group.id", &cfg.app_id)
            .set("group.instance.id", &cfg.instance_id)
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            // Eager protocol on purpose: a revocation takes every partition at a batch
            // boundary, which keeps "restore before process" simple to reason about.
            .set("partition.assignment.strategy", "range,roundrobin")
            .set(
                "session.timeout.ms",
                cfg.session_timeout.as_millis().to_string(),
            )
            .create_with_context(RuntimeContext::default())?;
        let topics: Vec<&str> = cfg.input_topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        tracing::info!(app = %cfg.app_id, instance = %cfg.instance_id, "runtime started");
        Ok(Self {
            cfg,
            processor,
            changelogs,
            consumer,
            producer,
            assigned: HashSet::new(),
            tasks: BTreeMap::new(),
            shared,
            aborts_in_a_row: 0,
        })
    }

    /// Runs until [`Shared::stop`] is set (after the current batch commits) or a fatal error.
    pub(crate) fn run(mut self) -> Result<(), RuntimeError> {
        while !self.shared.stop.load(Ordering::Relaxed) {
            let batch = self.poll_batch()?;
            if !batch.is_empty() {
                self.transaction(&batch)?;
            }
        }
        self.consumer.unsubscribe();
        Ok(())
    }

    fn poll_batch(&mut self) -> Result<Vec<OwnedMessage>, RuntimeError> {
        let mut batch = Vec::new();
        let deadline = Instant::now() + self.cfg.commit_interval;
        while batch.len() < self.cfg.max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let polled = self.consumer.poll(left).map(|r| r.map(|m| m.detach()));
            self.apply_rebalance(&mut batch)?;
            match polled {
                // A record of a partition revoked during this poll is dropped: its new owner
                // (or we, after restore) will read it again from the committed offset.
                Some(Ok(m))
                    if self
                        .assigned
                        .contains(&(m.topic().to_owned(), m.partition())) =>
                {
                    batch.push(m);
                }
                None | Some(Ok(_)) => {}
                Some(Err(e)) => {
                    if let Some((code, reason)) = self.consumer.client().fatal_error() {
                        return Err(RuntimeError::Config(format!(
                            "consumer fatal error {code:?}: {reason}"
                        )));
                    }
                    tracing::warn!(error = %e, "consume error");
                }
            }
        }
        Ok(batch)
    }

    fn apply_rebalance(&mut self, batch: &mut Vec<OwnedMessage>) -> Result<(), RuntimeError> {
        for event in self.consumer.context().take_events() {
            match event {
                RebalanceEvent::Revoked { partitions, lost } => {
                    for tp in &partitions {
                        self.assigned.remove(tp);
                    }
                    let assigned = &self.assigned;
                    batch.retain(|m| assigned.contains(&(m.topic().to_owned(), m.partition())));
                    let live: HashSet<i32> = assigned.iter().map(|(_, p)| *p).collect();
                    self.tasks.retain(|p, _| live.contains(p));
                    tracing::info!(?partitions, lost, "dropped state of revoked partitions");
                }
                RebalanceEvent::Assigned(partitions) => {
                    self.shared.ready.store(false, Ordering::Relaxed);
                    self.assigned.extend(partitions);
                    let new: Vec<i32> = self
                        .assigned
                        .iter()
                        .map(|(_, p)| *p)
                        .filter(|p| !self.tasks.contains_key(p))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    self.restore(&new)?;
                    self.shared.ready.store(true, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }

    /// Rebuilds the stores of tasks `partitions` from their changelogs.
    fn restore(&mut self, partitions: &[i32]) -> Result<(), RuntimeError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut tasks: BTreeMap<i32, Task> = partitions
            .iter()
            .map(|p| {
                (
                    *p,
                    Task {
                        stores: BTreeMap::new(),
                    },
                )
            })
            .collect();
        for (store, topic) in &self.changelogs {
            let mut data = changelog::restore(
                &self.cfg.bootstrap,
                topic,
                partitions,
                Duration::from_secs(300),
            )?;
            for (p, task) in &mut tasks {
                let d = data.remove(p).unwrap_or_default();
                task.stores
                    .insert(store.clone(), KeyValueStore::new(store, d));
            }
        }
        self.tasks.extend(tasks);
        tracing::info!(?partitions, elapsed = ?started.elapsed(), "restore complete");
        Ok(())
    }

    /// One transaction over `batch`; an abortable failure aborts, undoes and rewinds so the
    /// batch is polled and processed again.
    fn transaction(&mut self, batch: &[OwnedMessage]) -> Result<(), RuntimeError> {
        let started = Instant::now();
        match self.try_transaction(batch) {
            Ok(dead) => {
                for task in self.tasks.values_mut() {
                    task.stores
                        .values_mut()
                        .for_each(KeyValueStore::clear_journal);
                }
                self.aborts_in_a_row = 0;
                let s = &self.shared;
                s.processed.fetch_add(batch.len() as u64, Ordering::Relaxed);
                s.dead_lettered.fetch_add(dead, Ordering::Relaxed);
                s.commits.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(records = batch.len(), elapsed = ?started.elapsed(), "committed");
                Ok(())
            }
            Err(Failure::Abortable(e)) => {
                tracing::warn!(error = %e, "transaction aborted; rewinding");
                self.abort_and_rewind(batch)
            }
            Err(Failure::Fatal(e)) => {
                let _ = self
                    .producer
                    .abort_transaction(self.cfg.transaction_timeout);
                Err(e)
            }
        }
    }

    /// Returns the number of dead-lettered records.
    fn try_transaction(&mut self, batch: &[OwnedMessage]) -> Result<u64, Failure> {
        let producer = &self.producer;
        txn::call(producer, || producer.begin_transaction())?;
        let mut offsets: BTreeMap<Tp, i64> = BTreeMap::new();
        let mut emits: Vec<OutputRecord> = Vec::new();
        let mut dead = 0;
        for m in batch {
            let record = to_input(m);
            let meta = record.meta.clone();
            let task = self.tasks.get_mut(&meta.partition).ok_or_else(|| {
                Failure::Fatal(RuntimeError::Restore(format!(
                    "no state for partition {} (not restored)",
                    meta.partition
                )))
            })?;
            let marks: Vec<usize> = task.stores.values().map(KeyValueStore::mark).collect();
            emits.clear();
            let result = {
                let mut ctx = Context::new(&mut task.stores, &mut emits, &meta);
                self.processor.process(record, &mut ctx)
            };
            match result {
                Ok(()) => {
                    for e in &emits {
                        let (k, v) = (e.key.as_deref(), e.value.as_deref());
                        txn::send(producer, &e.topic, None, k, v, &e.headers)?;
                    }
                }
                Err(err) => {
                    let Some(class) = err.dlq_class() else {
                        tracing::error!(error = %err, topic = %meta.topic, offset = meta.offset, "processor failed");
                        return Err(Failure::Fatal(RuntimeError::Process(err)));
                    };
                    for (store, mark) in task.stores.values_mut().zip(marks) {
                        store.rollback_to(mark);
                    }
                    let headers = txn::dlq_headers(
                        class,
                        &err.to_string(),
                        &meta.topic,
                        meta.partition,
                        meta.offset,
                        &self.cfg.app_id,
                        &meta.headers,
                    );
                    let dlq = dlq_topic(&meta.topic);
                    txn::send(producer, &dlq, None, m.key(), m.payload(), &headers)?;
                    dead += 1;
                }
            }
            offsets.insert((meta.topic, meta.partition), meta.offset + 1);
        }
        for (p, task) in &self.tasks {
            for (store, topic) in &self.changelogs {
                for (k, v) in task.stores[store].dirty() {
                    txn::send(producer, topic, Some(*p), Some(k), v, &Vec::new())?;
                }
            }
        }
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in &offsets {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))
                .map_err(|e| Failure::Fatal(e.into()))?;
        }
        let group = self.consumer.group_metadata().ok_or_else(|| {
            Failure::Fatal(RuntimeError::Config(
                "consumer has no group metadata".into(),
            ))
        })?;
        let timeout = self.cfg.transaction_timeout;
        txn::call(producer, || {
            producer.send_offsets_to_transaction(&tpl, &group, timeout)
        })?;
        txn::call(producer, || producer.commit_transaction(timeout))?;
        Ok(dead)
    }

    /// Aborts the open transaction, undoes every store write of the batch and seeks each
    /// partition of the batch back to its first record (= its committed offset: batches are
    /// contiguous and the previous one committed).
    fn abort_and_rewind(&mut self, batch: &[OwnedMessage]) -> Result<(), RuntimeError> {
        self.shared.aborts.fetch_add(1, Ordering::Relaxed);
        self.aborts_in_a_row += 1;
        let producer = &self.producer;
        let timeout = self.cfg.transaction_timeout;
        match txn::call(producer, || producer.abort_transaction(timeout)) {
            Ok(()) => {}
            Err(Failure::Abortable(e)) => return Err(RuntimeError::Fatal(e)),
            Err(Failure::Fatal(e)) => return Err(e),
        }
        for task in self.tasks.values_mut() {
            task.stores.values_mut().for_each(|s| s.rollback_to(0));
        }
        if self.aborts_in_a_row > MAX_CONSECUTIVE_ABORTS {
            return Err(RuntimeError::Config(format!(
                "{} transactions in a row aborted; giving up",
                self.aborts_in_a_row
            )));
        }
        let mut first: BTreeMap<Tp, i64> = BTreeMap::new();
        for m in batch {
            first
                .entry((m.topic().to_owned(), m.partition()))
                .or_insert(m.offset());
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
