//! One exactly-once transaction: begin → process each record of the batch (its emits, or its
//! dead letter) → fire due timers → write the changelog of every store key touched →
//! `send_offsets_to_transaction` → commit. Any abortable failure aborts, undoes every store
//! write of the batch and rewinds the consumer so the batch is read and processed again.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use techpotli_telemetry::{TraceParent, trace};

use crate::changelog::dlq_topic;
use crate::engine::{Engine, Task, now_ms, to_input};
use crate::metrics::{self, BatchCounts};
use crate::processor::{
    Context, Headers, OutputRecord, ProcessError, Processor, RecordMetadata, TableUpdate, Tables,
    header,
};
use crate::rebalance::Tp;
use crate::store::KeyValueStore;
use crate::timers::{self, FiredTimer, TIMERS};
use crate::txn::{self, Failure};
use crate::{RuntimeError, avro::AvroIo};

/// Header naming the app that produced a record (beside `traceparent`).
pub const APP_HEADER: &str = "app";

/// What one transaction did, for the counters.
#[derive(Default)]
struct Outcome {
    emitted: u64,
    dead: BTreeMap<&'static str, u64>,
    timers: u64,
}

/// What a handler (record or timer) is working on: enough to build its context and, if it
/// fails, its dead letter.
struct Work<'r> {
    meta: &'r RecordMetadata,
    key: Option<&'r [u8]>,
    value: Option<&'r [u8]>,
}

impl<P: Processor> Engine<P> {
    /// One transaction over `batch` (possibly empty when only timers are due). Returns whether
    /// it committed (`false`: aborted and rewound, to be read again).
    pub(crate) fn transaction(&mut self, batch: &[OwnedMessage]) -> Result<bool, RuntimeError> {
        let started = Instant::now();
        match self.try_transaction(batch) {
            Ok(outcome) => {
                for task in self.tasks.values_mut() {
                    task.due
                        .committing(&task.stores[TIMERS])
                        .map_err(RuntimeError::Process)?;
                    task.stores
                        .values_mut()
                        .chain(task.tables.values_mut())
                        .for_each(KeyValueStore::clear_journal);
                }
                metrics::store_sizes(
                    &self.cfg.app_id,
                    self.tasks
                        .values()
                        .flat_map(|t| t.stores.values().chain(t.tables.values()))
                        .map(|s| (s.name(), s.len())),
                );
                self.aborts_in_a_row = 0;
                self.producers_in_a_row = 0;
                self.fenced_in_a_row = 0;
                let dead: u64 = outcome.dead.values().sum();
                let s = &self.shared;
                s.processed.fetch_add(batch.len() as u64, Ordering::Relaxed);
                s.dead_lettered.fetch_add(dead, Ordering::Relaxed);
                s.timers_fired.fetch_add(outcome.timers, Ordering::Relaxed);
                s.commits.fetch_add(1, Ordering::Relaxed);
                let mut by_topic: BTreeMap<&str, u64> = BTreeMap::new();
                for m in batch {
                    *by_topic.entry(m.topic()).or_default() += 1;
                }
                metrics::committed(&BatchCounts {
                    app: &self.cfg.app_id,
                    records_by_topic: by_topic
                        .into_iter()
                        .map(|(t, n)| (t.to_owned(), n))
                        .collect(),
                    emitted: outcome.emitted,
                    dead: outcome.dead.into_iter().collect(),
                    timers: outcome.timers,
                    elapsed: started.elapsed(),
                });
                tracing::debug!(records = batch.len(), elapsed = ?started.elapsed(), "committed");
                Ok(true)
            }
            Err(Failure::Abortable(e)) => {
                tracing::warn!(error = %e, "transaction aborted; rewinding");
                self.abort_and_rewind(batch).map(|()| false)
            }
            Err(Failure::Retry(why)) => {
                tracing::warn!(error = %why, "retriable processing error; aborting and retrying the batch");
                self.abort_and_rewind(batch)?;
                // Back off: 200 ms, 400 ms, … capped at 5 s.
                let exp = self.aborts_in_a_row.min(5);
                std::thread::sleep(Duration::from_millis(100 << exp).min(Duration::from_secs(5)));
                Ok(false)
            }
            Err(Failure::Fatal(e)) if self.producer.client().fatal_error().is_some() => {
                self.count_abort();
                self.replace_failed_producer(batch, e).map(|()| false)
            }
            Err(Failure::Fatal(e)) => {
                let _ = self
                    .producer
                    .abort_transaction(self.cfg.transaction_timeout);
                Err(e)
            }
        }
    }

    fn try_transaction(&mut self, batch: &[OwnedMessage]) -> Result<Outcome, Failure> {
        let producer = &self.producer;
        txn::call(producer, || producer.begin_transaction())?;
        let now = now_ms();
        let mut offsets: BTreeMap<Tp, i64> = BTreeMap::new();
        let mut out = Outcome::default();
        for m in batch {
            let record = to_input(m);
            let meta = record.meta.clone();
            let task = task_of(&mut self.tasks, meta.partition)?;
            let work = Work {
                meta: &meta,
                key: m.key(),
                value: m.payload(),
            };
            let ctx = Handler {
                cfg_app: &self.cfg.app_id,
                producer,
                avro: self.avro.as_ref(),
                globals: &self.globals.stores,
                now,
                partitions: self.partitions,
            };
            if let Some(table) = self.co_tables.table_of(&meta.topic) {
                let update = apply_table(task, table, record.key, record.value);
                ctx.run(task, &work, &mut out, |c| {
                    self.processor.on_table(update, c)
                })?;
            } else {
                ctx.run(task, &work, &mut out, |c| self.processor.process(record, c))?;
            }
            if let Some(ts) = meta.timestamp {
                timers::advance_stream_time(task.stores.get_mut(TIMERS).expect("timer store"), ts)
                    .map_err(|e| Failure::Fatal(RuntimeError::Process(e)))?;
            }
            offsets.insert((meta.topic, meta.partition), meta.offset + 1);
        }
        self.fire_timers(now, &mut out)?;
        let producer = &self.producer;
        for (p, task) in &self.tasks {
            for (store, topic) in &self.changelogs {
                for (k, v) in task.stores[store].dirty() {
                    txn::send(producer, topic, Some(*p), Some(k), v, &Vec::new(), None)?;
                }
            }
        }
        if !offsets.is_empty() {
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
        }
        let timeout = self.cfg.transaction_timeout;
        txn::drain(producer, timeout);
        txn::call(producer, || producer.commit_transaction(timeout))?;
        Ok(out)
    }

    /// Fires every timer due at `now` (wall clock) or at its task's stream time, in time
    /// order per task. A fired timer is deleted in the same transaction as what it emits.
    fn fire_timers(&mut self, now: i64, out: &mut Outcome) -> Result<(), Failure> {
        let handler = Handler {
            cfg_app: &self.cfg.app_id,
            producer: &self.producer,
            avro: self.avro.as_ref(),
            globals: &self.globals.stores,
            now,
            partitions: self.partitions,
        };
        let dlq_source = self.cfg.input_topics[0].clone();
        for (p, task) in &mut self.tasks {
            let due = task
                .due
                .due(&task.stores[TIMERS], now)
                .map_err(|e| Failure::Fatal(RuntimeError::Process(e)))?;
            for fired in due {
                timers::cancel(
                    task.stores.get_mut(TIMERS).expect("timer store"),
                    &fired.key,
                );
                let meta = timer_metadata(&self.cfg.app_id, *p, &fired);
                let work = Work {
                    meta: &meta,
                    key: Some(&fired.key),
                    value: None,
                };
                let processor = &mut self.processor;
                let dlq = handler.run_timer(task, &work, out, &dlq_source, |c| {
                    processor.on_timer(fired.clone(), c)
                })?;
                if !dlq {
                    out.timers += 1;
                }
            }
        }
        Ok(())
    }
}

/// Upserts (or, for a tombstone, deletes) a table record in its task's table store, journaled
/// so an aborted transaction undoes it. (Compacted topics refuse records without a key.)
fn apply_table(
    task: &mut Task,
    table: &str,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
) -> TableUpdate {
    let store = task
        .tables
        .entry(table.to_owned())
        .or_insert_with(|| KeyValueStore::new(table, BTreeMap::new()));
    let key = key.unwrap_or_default();
    let old = store.get_raw(&key).map(<[u8]>::to_vec);
    match &value {
        Some(v) => store.put_raw(key.clone(), v.clone()),
        None => {
            store.delete(&key);
        }
    }
    TableUpdate {
        table: table.to_owned(),
        key,
        old,
        new: value,
    }
}

fn task_of(tasks: &mut BTreeMap<i32, Task>, partition: i32) -> Result<&mut Task, Failure> {
    tasks.get_mut(&partition).ok_or_else(|| {
        Failure::Fatal(RuntimeError::Restore(format!(
            "no state for partition {partition} (not restored)"
        )))
    })
}

/// Metadata a timer handler sees: the reserved timer "topic", its task, offset -1, the
/// timer's time and the scheduling record's trace.
fn timer_metadata(app: &str, partition: i32, fired: &FiredTimer) -> RecordMetadata {
    RecordMetadata {
        topic: format!("{app}.{TIMERS}"),
        partition,
        offset: -1,
        timestamp: Some(fired.timer.at),
        headers: fired
            .timer
            .traceparent
            .iter()
            .map(|t| (trace::HEADER.to_owned(), t.as_bytes().to_vec()))
            .collect(),
    }
}

/// Runs handlers inside the open transaction and routes their results.
struct Handler<'e> {
    cfg_app: &'e str,
    producer: &'e txn::TxnProducer,
    avro: Option<&'e AvroIo>,
    globals: &'e BTreeMap<String, KeyValueStore>,
    now: i64,
    /// Partition count of the inputs ([`Context::broadcast`]).
    partitions: i32,
}

impl Handler<'_> {
    /// Runs a record handler: its emits go out, or (on a dead-letter error) its store writes
    /// are undone and the record goes to its topic's DLQ.
    fn run(
        &self,
        task: &mut Task,
        work: &Work<'_>,
        out: &mut Outcome,
        f: impl FnOnce(&mut Context<'_>) -> Result<(), ProcessError>,
    ) -> Result<(), Failure> {
        self.run_timer(task, work, out, &work.meta.topic, f)
            .map(|_| ())
    }

    /// [`Handler::run`] with the DLQ named by `dlq_source`'s topic. Returns whether the work
    /// was dead-lettered.
    fn run_timer(
        &self,
        task: &mut Task,
        work: &Work<'_>,
        out: &mut Outcome,
        dlq_source: &str,
        f: impl FnOnce(&mut Context<'_>) -> Result<(), ProcessError>,
    ) -> Result<bool, Failure> {
        let meta = work.meta;
        let _span = tracing::info_span!(
            "record",
            topic = %meta.topic,
            partition = meta.partition,
            offset = meta.offset,
            trace_id = header(&meta.headers, trace::HEADER)
                .and_then(TraceParent::from_bytes)
                .map(|t| t.trace_id_hex())
                .unwrap_or_default(),
        )
        .entered();
        let marks: Vec<usize> = task.stores.values().map(KeyValueStore::mark).collect();
        let mut emits: Vec<OutputRecord> = Vec::new();
        let result = {
            let tables = Tables {
                task: Some(&task.tables),
                global: Some(self.globals),
            };
            let mut ctx = Context::new(&mut task.stores, &mut emits, meta, self.now, self.avro)
                .with_tables(tables)
                .with_app(self.cfg_app)
                .with_partitions(self.partitions);
            f(&mut ctx)
        };
        match result {
            Ok(()) => {
                let trace = header(&meta.headers, trace::HEADER).and_then(TraceParent::from_bytes);
                for e in &emits {
                    let headers = standard_headers(&e.headers, trace, self.cfg_app);
                    let (k, v) = (e.key.as_deref(), e.value.as_deref());
                    txn::send(
                        self.producer,
                        &e.topic,
                        e.partition,
                        k,
                        v,
                        &headers,
                        e.timestamp,
                    )?;
                }
                out.emitted += emits.len() as u64;
                Ok(false)
            }
            Err(err) => {
                if err.is_retriable() {
                    return Err(Failure::Retry(err.to_string()));
                }
                let Some(class) = err.dlq_class() else {
                    tracing::error!(error = %err, "processor failed");
                    return Err(Failure::Fatal(RuntimeError::Process(err)));
                };
                for (store, mark) in task.stores.values_mut().zip(marks) {
                    store.rollback_to(mark);
                }
                // A failed timer stays deleted: it is dead-lettered, not retried forever.
                if meta.offset < 0
                    && let Some(key) = work.key
                {
                    timers::cancel(task.stores.get_mut(TIMERS).expect("timer store"), key);
                }
                tracing::warn!(error = %err, class, "dead-lettered");
                let headers = txn::dlq_headers(
                    class,
                    &err.to_string(),
                    &meta.topic,
                    meta.partition,
                    meta.offset,
                    self.cfg_app,
                    &meta.headers,
                );
                let dlq = dlq_topic(dlq_source);
                // The dead letter keeps the record's own time, so a replay is in its place.
                let ts = meta.timestamp.filter(|_| meta.offset >= 0);
                txn::send(
                    self.producer,
                    &dlq,
                    None,
                    work.key,
                    work.value,
                    &headers,
                    ts,
                )?;
                *out.dead.entry(class).or_default() += 1;
                Ok(true)
            }
        }
    }
}

/// `headers` plus a `traceparent` (a child of the input's trace, or a new trace) and the `app`
/// header, unless the processor set them itself.
fn standard_headers(headers: &Headers, input: Option<TraceParent>, app: &str) -> Headers {
    let mut h = headers.clone();
    if header(&h, trace::HEADER).is_none() {
        let t = input.map_or_else(TraceParent::new_root, |t| t.child());
        h.push((trace::HEADER.to_owned(), t.to_string().into_bytes()));
    }
    if header(&h, APP_HEADER).is_none() {
        h.push((APP_HEADER.to_owned(), app.as_bytes().to_vec()));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_carry_a_child_trace_and_the_app() {
        let parent = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let h = standard_headers(&Vec::new(), parent, "saga");
        let t = TraceParent::from_bytes(header(&h, trace::HEADER).unwrap()).unwrap();
        assert_eq!(t.trace_id, parent.unwrap().trace_id);
        assert_ne!(t.parent_id, parent.unwrap().parent_id);
        assert_eq!(header(&h, APP_HEADER), Some(&b"saga"[..]));
        let own = vec![(APP_HEADER.to_owned(), b"mine".to_vec())];
        let h = standard_headers(&own, None, "saga");
        assert_eq!(header(&h, APP_HEADER), Some(&b"mine"[..]));
        assert!(header(&h, trace::HEADER).is_some());
    }
}
