//! Co-partitioned tables: compacted topics consumed with the inputs (partition `p` is task
//! `p`'s) whose records upsert a per-task table store. The topic is its own changelog: on
//! assignment a task's table is rebuilt from the topic up to the group's committed offset,
//! and the records after it are consumed as input, in transactions with the inputs' offsets.
//!
//! **Catch-up before join.** A task's stream records must not overtake the table records that
//! were already in the topic when it was assigned (on a first start, a stream record would
//! otherwise join against a half-loaded table, and a run with restarts would differ from one
//! without). So on assignment the restore also finds the last table record present, the
//! task's stream partitions are paused, and stream records that arrive anyway are held in
//! order; once the task's transactions have applied every table record up to that point, the
//! held records are released first and the partitions resume.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use crate::RuntimeError;
use crate::changelog::restore_upto;
use crate::processor::TableSpec;
use crate::rebalance::{RuntimeContext, Tp};
use crate::store::KeyValueStore;

/// A task's table stores, by table name.
pub(crate) type TaskTables = BTreeMap<String, KeyValueStore>;

/// The co-partitioned tables of one processor instance and the catch-up of its tasks.
#[derive(Default)]
pub(crate) struct CoTables {
    /// topic → table name.
    by_topic: BTreeMap<String, String>,
    /// Tasks still catching up: task → (table partition → offset after its last record).
    catching_up: BTreeMap<i32, BTreeMap<Tp, i64>>,
    /// Paused stream partitions of catching-up tasks.
    paused: BTreeSet<Tp>,
    /// Stream records of catching-up tasks that were fetched anyway, in order.
    held: BTreeMap<Tp, VecDeque<OwnedMessage>>,
    /// Held records of tasks that caught up, for the next batch.
    released: Vec<OwnedMessage>,
}

impl CoTables {
    pub(crate) fn new(specs: &[TableSpec]) -> Self {
        Self {
            by_topic: specs
                .iter()
                .map(|s| (s.topic.clone(), s.name.clone()))
                .collect(),
            ..Self::default()
        }
    }

    /// The table fed by `topic`, if it is a table topic.
    pub(crate) fn table_of(&self, topic: &str) -> Option<&str> {
        self.by_topic.get(topic).map(String::as_str)
    }

    /// Rebuilds the tables of `partitions` up to the group's committed offsets and starts the
    /// catch-up of every task that has table records past them.
    pub(crate) fn restore(
        &mut self,
        consumer: &BaseConsumer<RuntimeContext>,
        bootstrap: &str,
        partitions: &[i32],
        assigned: &HashSet<Tp>,
    ) -> Result<BTreeMap<i32, TaskTables>, RuntimeError> {
        let mut out: BTreeMap<i32, TaskTables> =
            partitions.iter().map(|p| (*p, TaskTables::new())).collect();
        if self.by_topic.is_empty() {
            return Ok(out);
        }
        let mut tpl = TopicPartitionList::new();
        for topic in self.by_topic.keys() {
            for p in partitions {
                tpl.add_partition(topic, *p);
            }
        }
        let committed = consumer.committed_offsets(tpl, Duration::from_secs(30))?;
        for (topic, name) in &self.by_topic {
            let bounds: BTreeMap<i32, Option<i64>> = partitions
                .iter()
                .map(|p| {
                    let c = committed
                        .find_partition(topic, *p)
                        .and_then(|e| match e.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        })
                        .unwrap_or(0);
                    (*p, Some(c))
                })
                .collect();
            let started = std::time::Instant::now();
            let restored = restore_upto(bootstrap, topic, &bounds, true, Duration::from_secs(300))?;
            for (p, data) in restored.data {
                let store = KeyValueStore::new(name, data);
                out.entry(p).or_default().insert(name.clone(), store);
            }
            metrics::gauge!(crate::metrics::RESTORE_SECONDS, "store" => name.clone())
                .set(started.elapsed().as_secs_f64());
            for (p, next) in restored.next_offset {
                if bounds.get(&p).copied().flatten().is_some_and(|c| next > c) {
                    self.catching_up
                        .entry(p)
                        .or_default()
                        .insert((topic.clone(), p), next);
                }
            }
        }
        let pause: Vec<Tp> = assigned
            .iter()
            .filter(|(t, p)| self.catching_up.contains_key(p) && !self.by_topic.contains_key(t))
            .cloned()
            .collect();
        if !pause.is_empty() {
            consumer.pause(&tpl_of(&pause))?;
            tracing::info!(tasks = ?self.catching_up.keys().collect::<Vec<_>>(), "stream partitions paused until their tables catch up");
            self.paused.extend(pause);
        }
        Ok(out)
    }

    /// Holds `m` when its task is catching up; otherwise gives it back.
    pub(crate) fn hold(&mut self, m: OwnedMessage) -> Option<OwnedMessage> {
        let tp = (m.topic().to_owned(), m.partition());
        if self.paused.contains(&tp) {
            self.held.entry(tp).or_default().push_back(m);
            None
        } else {
            Some(m)
        }
    }

    /// Records released since the last call (they go first into the next batch).
    pub(crate) fn take_released(&mut self) -> Vec<OwnedMessage> {
        std::mem::take(&mut self.released)
    }

    /// After `batch` committed: tasks whose table records are now applied resume.
    pub(crate) fn committed(
        &mut self,
        consumer: &BaseConsumer<RuntimeContext>,
        batch: &[OwnedMessage],
    ) -> Result<(), RuntimeError> {
        if self.catching_up.is_empty() {
            return Ok(());
        }
        for m in batch {
            let p = m.partition();
            if let Some(pending) = self.catching_up.get_mut(&p) {
                let tp = (m.topic().to_owned(), p);
                if pending.get(&tp).is_some_and(|next| m.offset() + 1 >= *next) {
                    pending.remove(&tp);
                }
            }
        }
        let done: Vec<i32> = self
            .catching_up
            .iter()
            .filter(|(_, pending)| pending.is_empty())
            .map(|(p, _)| *p)
            .collect();
        for p in done {
            self.catching_up.remove(&p);
            let resume: Vec<Tp> = self
                .paused
                .iter()
                .filter(|(_, q)| *q == p)
                .cloned()
                .collect();
            for tp in &resume {
                self.paused.remove(tp);
                self.released
                    .extend(self.held.remove(tp).unwrap_or_default());
            }
            if !resume.is_empty() {
                consumer.resume(&tpl_of(&resume))?;
            }
            tracing::info!(task = p, "tables caught up; stream partitions resumed");
        }
        Ok(())
    }

    /// Forgets the catch-up and held records of tasks no longer owned.
    pub(crate) fn retain_tasks(&mut self, live: &HashSet<i32>) {
        self.catching_up.retain(|p, _| live.contains(p));
        self.paused.retain(|(_, p)| live.contains(p));
        self.held.retain(|(_, p), _| live.contains(p));
        self.released.retain(|m| live.contains(&m.partition()));
    }
}

fn tpl_of(tps: &[Tp]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for (t, p) in tps {
        tpl.add_partition(t, *p);
    }
    tpl
}
