//! The exactly-once loop, run on one dedicated std thread (every librdkafka transaction call
//! blocks): collect a batch (≤ `max_batch` records or `commit_interval`) with no transaction
//! open → begin → process each record, producing its emits or its dead letter → produce the
//! changelog of every store key written → `send_offsets_to_transaction` → commit.
//!
//! Because `poll` (and with it every rebalance callback) only runs between transactions, a
//! revocation never meets an open transaction, and an assignment is restored before a record
//! of it is processed. The transaction itself is in `batch.rs`.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Headers as _, Message, OwnedMessage};
use rdkafka::producer::Producer;

use crate::avro::AvroIo;
use crate::changelog::{self, changelog_topic, repartition_topic};
use crate::globals::GlobalTables;
use crate::processor::{InputRecord, Processor, RecordMetadata};
use crate::rebalance::{RebalanceEvent, RuntimeContext, Tp};
use crate::store::KeyValueStore;
use crate::tables::{CoTables, TaskTables};
use crate::timers::{self, TIMERS};
use crate::txn::TxnProducer;
use crate::{RuntimeConfig, RuntimeError, Shared};

/// How long a non-empty batch waits for more input before it commits.
const IDLE_FLUSH: Duration = Duration::from_millis(2);

/// The state of one task (an input partition number across all input topics): the
/// processor's stores and the timer store.
pub(crate) struct Task {
    pub(crate) stores: BTreeMap<String, KeyValueStore>,
    /// Co-partitioned tables (journaled like the stores; their topics are their changelogs).
    pub(crate) tables: TaskTables,
    /// Due-time order of the timer store's timers.
    pub(crate) due: timers::DueIndex,
}

pub(crate) struct Engine<P: Processor> {
    pub(crate) cfg: RuntimeConfig,
    pub(crate) processor: P,
    /// (store name, changelog topic), the timer store included.
    pub(crate) changelogs: Vec<(String, String)>,
    pub(crate) consumer: BaseConsumer<RuntimeContext>,
    pub(crate) producer: TxnProducer,
    pub(crate) assigned: HashSet<Tp>,
    pub(crate) tasks: BTreeMap<i32, Task>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) aborts_in_a_row: u32,
    /// When the current run of aborted transactions began.
    pub(crate) aborting_since: Instant,
    /// Failed producers replaced since the last commit.
    pub(crate) producers_in_a_row: u32,
    /// Every topic the group consumer subscribes to (to subscribe a replacement).
    pub(crate) topics: Vec<String>,
    /// Consumers replaced after FENCED_INSTANCE_ID since the last commit.
    pub(crate) fenced_in_a_row: u32,
    pub(crate) avro: Option<AvroIo>,
    pub(crate) co_tables: CoTables,
    pub(crate) globals: GlobalTables,
    /// Partition count of the inputs (tasks, changelogs, repartition topics).
    pub(crate) partitions: i32,
}

/// Orders a batch by record timestamp across partitions while keeping each partition's own
/// order (a k-way merge on the head of each partition's run), as Kafka Streams does within a
/// task: a stock adjustment and a reservation that arrive together on two topics are applied
/// in the order they happened, not in the order the fetch returned the topics.
pub(crate) fn merge_by_time(batch: Vec<OwnedMessage>) -> Vec<OwnedMessage> {
    let mut runs: BTreeMap<(String, i32), VecDeque<OwnedMessage>> = BTreeMap::new();
    let n = batch.len();
    for m in batch {
        runs.entry((m.topic().to_owned(), m.partition()))
            .or_default()
            .push_back(m);
    }
    if runs.len() < 2 {
        return runs.into_values().next().map(Vec::from).unwrap_or_default();
    }
    let mut out = Vec::with_capacity(n);
    loop {
        let next = runs
            .iter()
            .filter_map(|(k, q)| {
                q.front()
                    .map(|m| (m.timestamp().to_millis().unwrap_or(i64::MIN), k))
            })
            .min()
            .map(|(_, k)| k.clone());
        let Some(k) = next else { break };
        out.extend(runs.get_mut(&k).and_then(VecDeque::pop_front));
    }
    out
}

/// Wall clock in ms since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn to_input(m: &OwnedMessage) -> InputRecord {
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
        let mut stores = processor.stores();
        if let Some(s) = stores.iter().find(|s| s.starts_with('_')) {
            return Err(RuntimeError::Config(format!(
                "store name {s}: names starting with '_' are reserved"
            )));
        }
        stores.push(TIMERS.to_owned());
        let tables = processor.tables();
        let table_topics: Vec<String> = tables.iter().map(|t| t.topic.clone()).collect();
        let repartitions: Vec<String> = processor
            .repartitions()
            .iter()
            .map(|r| repartition_topic(&cfg.app_id, r))
            .collect();
        let topology = changelog::Topology {
            inputs: &cfg.input_topics,
            tables: &table_topics,
            repartitions: &repartitions,
            stores: &stores,
            late: processor.late_topics(),
        };
        let partitions = changelog::ensure_topics(&cfg.bootstrap, &cfg.app_id, &topology)?;
        let avro = cfg
            .schema_registry_url
            .as_deref()
            .map(AvroIo::new)
            .transpose()
            .map_err(|e| RuntimeError::Config(format!("codec runtime: {e}")))?;
        let changelogs = stores
            .iter()
            .map(|s| (s.clone(), changelog_topic(&cfg.app_id, s)))
            .collect();
        let producer = transactional_producer(&cfg)?;
        // Before the first input record: the instance is not ready until this returns.
        let globals = GlobalTables::bootstrap(
            &cfg.bootstrap,
            &cfg.app_id,
            &processor.global_tables(),
            Duration::from_secs(300),
        )?;
        let topics: Vec<String> = cfg
            .input_topics
            .iter()
            .chain(&table_topics)
            .chain(&repartitions)
            .cloned()
            .collect();
        let consumer = group_consumer(&cfg, &topics)?;
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
            aborting_since: Instant::now(),
            producers_in_a_row: 0,
            topics,
            fenced_in_a_row: 0,
            avro,
            co_tables: CoTables::new(&tables),
            globals,
            partitions,
        })
    }

    /// Runs until [`Shared::stop`] is set (after the current batch commits) or a fatal error.
    pub(crate) fn run(mut self) -> Result<(), RuntimeError> {
        while !self.shared.stop.load(Ordering::Relaxed) {
            self.globals.refresh()?;
            let batch = self.poll_batch()?;
            if (!batch.is_empty() || self.timers_due()?) && self.transaction(&batch)? {
                self.co_tables.committed(&self.consumer, &batch)?;
            }
        }
        // Everything polled is committed; unsubscribing (and the close on drop) leaves the
        // group unless this is a static member (KIP-345 members keep their assignment for
        // `session.timeout.ms`, so a restart does not rebalance).
        self.consumer.unsubscribe();
        tracing::info!(app = %self.cfg.app_id, instance = %self.cfg.instance_id, "runtime stopped");
        Ok(())
    }

    /// Whether any owned task has a timer due now.
    fn timers_due(&mut self) -> Result<bool, RuntimeError> {
        let now = now_ms();
        for task in self.tasks.values_mut() {
            let due = task
                .due
                .due(&task.stores[TIMERS], now)
                .map_err(RuntimeError::Process)?;
            if !due.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Collects a batch: up to `max_batch` records, for at most `commit_interval`, and no
    /// longer than [`IDLE_FLUSH`] after the input ran dry — under light load a record waits
    /// milliseconds, not the whole interval, for its transaction (each hop of a pipeline adds
    /// this wait); under load the consumer never runs dry and batches stay large.
    fn poll_batch(&mut self) -> Result<Vec<OwnedMessage>, RuntimeError> {
        let mut batch = self.co_tables.take_released();
        let deadline = Instant::now() + self.cfg.commit_interval;
        while batch.len() < self.cfg.max_batch {
            let mut left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if !batch.is_empty() {
                left = left.min(IDLE_FLUSH);
            }
            let polled = self.consumer.poll(left).map(|r| r.map(|m| m.detach()));
            if polled.is_none() && !batch.is_empty() {
                self.apply_rebalance(&mut batch)?;
                break;
            }
            self.apply_rebalance(&mut batch)?;
            match polled {
                // A record of a partition revoked during this poll is dropped: its new owner
                // (or we, after restore) will read it again from the committed offset.
                Some(Ok(m))
                    if self
                        .assigned
                        .contains(&(m.topic().to_owned(), m.partition())) =>
                {
                    batch.extend(self.co_tables.hold(m));
                }
                None | Some(Ok(_)) => {}
                Some(Err(e)) => {
                    if let Some((code, reason)) = self.consumer.client().fatal_error() {
                        if code == RDKafkaErrorCode::FencedInstanceId {
                            self.replace_fenced_consumer(&reason)?;
                            return Ok(Vec::new());
                        }
                        return Err(RuntimeError::Config(format!(
                            "consumer fatal error {code:?}: {reason}"
                        )));
                    }
                    tracing::warn!(error = %e, "consume error");
                }
            }
        }
        Ok(merge_by_time(batch))
    }

    /// After a failover a static member's retried JoinGroup can fence the member it was
    /// (FENCED_INSTANCE_ID, fatal to that librdkafka consumer): every partition is dropped as
    /// if lost and a new consumer joins under the same instance id; the next assignment
    /// restores from the changelogs as usual. Repeated fencing without a commit means another
    /// instance has this id: the instance exits.
    fn replace_fenced_consumer(&mut self, reason: &str) -> Result<(), RuntimeError> {
        let (app, instance) = (&self.cfg.app_id, &self.cfg.instance_id);
        crate::rebalance::fenced_again(&mut self.fenced_in_a_row, app, instance, reason)?;
        self.assigned.clear();
        self.tasks.clear();
        self.co_tables.retain_tasks(&HashSet::new());
        let _ = self.co_tables.take_released();
        self.consumer = group_consumer(&self.cfg, &self.topics)?;
        Ok(())
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
                    self.co_tables.retain_tasks(&live);
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
        crate::metrics::restoring(&self.cfg.app_id, partitions.len());
        let mut tables = self.co_tables.restore(
            &self.consumer,
            &self.cfg.bootstrap,
            partitions,
            &self.assigned,
        )?;
        let mut tasks: BTreeMap<i32, Task> = partitions
            .iter()
            .map(|p| {
                (
                    *p,
                    Task {
                        stores: BTreeMap::new(),
                        tables: tables.remove(p).unwrap_or_default(),
                        due: timers::DueIndex::default(),
                    },
                )
            })
            .collect();
        for (store, topic) in &self.changelogs {
            let store_started = Instant::now();
            let (mut data, records) = changelog::restore(
                &self.cfg.bootstrap,
                topic,
                partitions,
                Duration::from_secs(300),
            )?;
            crate::metrics::restored(&self.cfg.app_id, store, records, store_started.elapsed());
            for (p, task) in &mut tasks {
                let d = data.remove(p).unwrap_or_default();
                task.stores
                    .insert(store.clone(), KeyValueStore::new(store, d));
            }
        }
        self.tasks.extend(tasks);
        crate::metrics::restoring(&self.cfg.app_id, 0);
        tracing::info!(?partitions, elapsed = ?started.elapsed(), "restore complete");
        Ok(())
    }
}

/// The instance's group consumer (static member when configured), subscribed to `topics`.
fn group_consumer(
    cfg: &RuntimeConfig,
    topics: &[String],
) -> Result<BaseConsumer<RuntimeContext>, RuntimeError> {
    let mut consumer_cfg = ClientConfig::new();
    if cfg.static_membership {
        consumer_cfg.set("group.instance.id", &cfg.instance_id);
    }
    let consumer: BaseConsumer<RuntimeContext> = consumer_cfg
        .set("bootstrap.servers", &cfg.bootstrap)
        .set("group.id", &cfg.app_id)
        .set("client.id", cfg.transactional_id())
        .set("statistics.interval.ms", "5000")
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
        .create_with_context(RuntimeContext::new(&cfg.app_id))?;
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    Ok(consumer)
}

/// The instance's transactional producer, its transactions initialised (which aborts what a
/// previous incarnation left open).
pub(crate) fn transactional_producer(cfg: &RuntimeConfig) -> Result<TxnProducer, RuntimeError> {
    let txn_ms = cfg.transaction_timeout.as_millis().to_string();
    let producer: TxnProducer = ClientConfig::new()
        .set("bootstrap.servers", &cfg.bootstrap)
        .set("transactional.id", cfg.transactional_id())
        .set("transaction.timeout.ms", &txn_ms)
        .set("partitioner", "murmur2_random")
        // Send at once: a transaction's records are invisible until it commits anyway, and
        // under load batches form while requests are in flight. 5 ms cost each hop of
        // `bench orders` ~5 ms at p50 for no measurable gain in `bench runtime`.
        .set("linger.ms", "0")
        .create()?;
    crate::txn::call(&producer, || {
        producer.init_transactions(cfg.transaction_timeout)
    })
    .map_err(|f| match f {
        crate::txn::Failure::Fatal(e) => e,
        crate::txn::Failure::Abortable(e) => RuntimeError::Fatal(e),
        crate::txn::Failure::Retry(why) => RuntimeError::Config(why),
    })?;
    Ok(producer)
}

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp;

    use super::*;

    fn msg(topic: &str, partition: i32, offset: i64, ts: i64) -> OwnedMessage {
        OwnedMessage::new(
            None,
            None,
            topic.to_owned(),
            Timestamp::CreateTime(ts),
            partition,
            offset,
            None,
        )
    }

    #[test]
    fn batches_merge_by_time_but_keep_each_partitions_order() {
        let batch = vec![
            msg("requests", 0, 10, 500),
            msg("requests", 0, 11, 100), // out of time order within its partition: stays after 10
            msg("adjustments", 0, 3, 50),
            msg("adjustments", 0, 4, 700),
        ];
        let order: Vec<(String, i64)> = merge_by_time(batch)
            .iter()
            .map(|m| (m.topic().to_owned(), m.offset()))
            .collect();
        assert_eq!(
            order,
            vec![
                ("adjustments".into(), 3),
                ("requests".into(), 10),
                ("requests".into(), 11),
                ("adjustments".into(), 4),
            ]
        );
    }
}
