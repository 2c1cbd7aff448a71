//! The sink loop, on a dedicated thread (librdkafka calls block) with a small tokio runtime of
//! its own for the connector's async I/O. One batch is in flight at a time: the loop does not
//! poll while a batch is applied, so a slow store throttles consumption (librdkafka's bounded
//! prefetch queue is the only buffer) — that is the back-pressure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::config::{MAX_BACKOFF, MIN_BACKOFF};
use super::context::{Event, SinkContext};
use super::dlq::DeadLetters;
use super::{Reject, Sink, SinkConfig, SinkError, Tp, next_offsets};
use crate::changelog;
use crate::{InputRecord, RuntimeError};

/// Records applied (`topic` label).
pub const APPLIED: &str = "sink_records_applied_total";
/// Records dead-lettered (`class` label).
pub const DEAD: &str = "sink_dlq_total";
/// Stage → commit of one batch, retries included.
pub const BATCH_SECONDS: &str = "sink_batch_seconds";
/// Transient failures retried.
pub const RETRIES: &str = "sink_retries_total";

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    ready: AtomicBool,
    finished: AtomicBool,
    applied: AtomicU64,
    dead_lettered: AtomicU64,
    batches: AtomicU64,
    retries: AtomicU64,
}

/// Counters since start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkStats {
    /// Records in committed batches, dead letters included.
    pub applied: u64,
    pub dead_lettered: u64,
    pub batches: u64,
    pub retries: u64,
}

/// A running sink: the handle to its loop thread.
pub struct SinkRunner {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), RuntimeError>>>,
}

impl SinkRunner {
    /// Starts the loop. `make` builds the sink on the loop's own tokio runtime (connection
    /// pools spawn tasks on the runtime they are created in).
    pub fn spawn<S, F>(cfg: SinkConfig, make: F) -> Result<Self, RuntimeError>
    where
        S: Sink,
        F: Future<Output = Result<S, SinkError>> + Send + 'static,
    {
        cfg.validate().map_err(RuntimeError::Config)?;
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("sink-{}", cfg.app_id))
            .spawn(move || {
                let r = Loop::start(cfg, make, s.clone()).and_then(Loop::run);
                s.finished.store(true, Ordering::Relaxed);
                if let Err(e) = &r {
                    tracing::error!(error = %e, "sink loop failed");
                }
                r
            })
            .map_err(|e| RuntimeError::Config(format!("spawning the sink thread: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    pub fn stats(&self) -> SinkStats {
        let s = &self.shared;
        SinkStats {
            applied: s.applied.load(Ordering::Relaxed),
            dead_lettered: s.dead_lettered.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
        }
    }

    /// `/readyz`: partitions assigned at the sink's offsets and the loop running.
    pub fn readiness(&self) -> techpotli_telemetry::Readiness {
        let s = self.shared.clone();
        Arc::new(move || s.ready.load(Ordering::Relaxed) && !s.finished.load(Ordering::Relaxed))
    }

    /// Asks the loop to stop after the current batch, without waiting.
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops after the current batch and waits.
    pub fn stop(mut self) -> Result<SinkStats, RuntimeError> {
        self.request_stop();
        self.wait().map(|()| self.stats())
    }

    /// Waits for the loop to end by itself (a fatal error, or a requested stop).
    pub fn join(mut self) -> Result<SinkStats, RuntimeError> {
        self.wait().map(|()| self.stats())
    }

    fn wait(&mut self) -> Result<(), RuntimeError> {
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| RuntimeError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for SinkRunner {
    fn drop(&mut self) {
        self.request_stop();
        let _ = self.wait();
    }
}

struct Loop<S: Sink> {
    cfg: SinkConfig,
    consumer: BaseConsumer<SinkContext<S>>,
    dlq: DeadLetters,
    sink: Arc<Mutex<S>>,
    rt: Arc<tokio::runtime::Runtime>,
    /// Next offset to accept per owned partition; anything below was applied already.
    positions: HashMap<Tp, i64>,
    shared: Arc<Shared>,
    /// Consumers replaced after FENCED_INSTANCE_ID since the last applied batch.
    fenced_in_a_row: u32,
}

impl<S: Sink> Loop<S> {
    fn start<F>(cfg: SinkConfig, make: F, shared: Arc<Shared>) -> Result<Self, RuntimeError>
    where
        F: Future<Output = Result<S, SinkError>>,
    {
        changelog::ensure_topics(
            &cfg.bootstrap,
            &cfg.app_id,
            &changelog::Topology {
                inputs: &cfg.topics,
                ..changelog::Topology::default()
            },
        )?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(format!("sink-io-{}", cfg.app_id))
            .enable_all()
            .build()
            .map_err(|e| RuntimeError::Config(format!("sink io runtime: {e}")))?;
        let sink = rt
            .block_on(make)
            .map_err(|e| RuntimeError::Config(format!("starting the sink: {e}")))?;
        let sink = Arc::new(Mutex::new(sink));
        let rt = Arc::new(rt);
        let consumer = Self::consumer(&cfg, &sink, &rt)?;
        let dlq = DeadLetters::new(&cfg.bootstrap, &cfg.app_id)?;
        tracing::info!(app = %cfg.app_id, instance = %cfg.instance_id, "sink started");
        Ok(Self {
            cfg,
            consumer,
            dlq,
            sink,
            rt,
            positions: HashMap::new(),
            shared,
            fenced_in_a_row: 0,
        })
    }

    /// The group consumer, subscribed.
    fn consumer(
        cfg: &SinkConfig,
        sink: &Arc<Mutex<S>>,
        rt: &Arc<tokio::runtime::Runtime>,
    ) -> Result<BaseConsumer<SinkContext<S>>, RuntimeError> {
        let context = SinkContext {
            app: cfg.app_id.clone(),
            sink: sink.clone(),
            rt: rt.clone(),
            events: Mutex::default(),
        };
        let mut cc = ClientConfig::new();
        if cfg.static_membership {
            cc.set("group.instance.id", &cfg.instance_id);
        }
        let consumer: BaseConsumer<SinkContext<S>> = cc
            .set("bootstrap.servers", &cfg.bootstrap)
            .set("group.id", &cfg.app_id)
            .set("client.id", format!("{}-{}", cfg.app_id, cfg.instance_id))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .set("statistics.interval.ms", "5000")
            .set("partition.assignment.strategy", "range,roundrobin")
            .set(
                "session.timeout.ms",
                cfg.session_timeout.as_millis().to_string(),
            )
            .create_with_context(context)?;
        let topics: Vec<&str> = cfg.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(consumer)
    }

    /// After a failover a static member's retried JoinGroup can fence the member it was
    /// (FENCED_INSTANCE_ID, fatal to that librdkafka consumer): start a new consumer under the
    /// same instance id. Nothing is lost: records not yet applied are read again from the
    /// sink's stored offsets on the new assignment. Repeated fencing means a second instance
    /// with this id runs somewhere: that stops the sink.
    fn replace_fenced_consumer(&mut self, reason: &str) -> Result<(), RuntimeError> {
        let (app, instance) = (&self.cfg.app_id, &self.cfg.instance_id);
        crate::rebalance::fenced_again(&mut self.fenced_in_a_row, app, instance, reason)?;
        self.positions.clear();
        self.consumer = Self::consumer(&self.cfg, &self.sink, &self.rt)?;
        Ok(())
    }

    fn run(mut self) -> Result<(), RuntimeError> {
        while !self.shared.stop.load(Ordering::Relaxed) {
            let batch = self.poll_batch()?;
            if !batch.is_empty() {
                if !self.apply(&batch)? {
                    break;
                }
                self.fenced_in_a_row = 0;
            }
        }
        self.consumer.unsubscribe();
        tracing::info!(app = %self.cfg.app_id, "sink stopped");
        Ok(())
    }

    /// Collects up to `max_batch` records, waiting at most `linger` after the first one.
    fn poll_batch(&mut self) -> Result<Vec<InputRecord>, RuntimeError> {
        let mut batch = Vec::new();
        let mut deadline: Option<Instant> = None;
        while batch.len() < self.cfg.max_batch {
            let wait = deadline.map_or(Duration::from_millis(100), |d| {
                d.saturating_duration_since(Instant::now())
            });
            let polled = self.consumer.poll(wait).map(|r| r.map(|m| m.detach()));
            self.apply_events(&mut batch)?;
            match polled {
                Some(Ok(m)) => {
                    let tp = (m.topic().to_owned(), m.partition());
                    // Only records at or past the sink's position: a fetch that raced a
                    // rebalance, or a partition we no longer own, is skipped.
                    if let Some(next) = self.positions.get_mut(&tp)
                        && m.offset() >= *next
                    {
                        *next = m.offset() + 1;
                        batch.push(crate::engine::to_input(&m));
                        deadline.get_or_insert_with(|| Instant::now() + self.cfg.linger);
                    }
                }
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
                None if deadline.is_none() => break,
                None => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        Ok(batch)
    }

    fn apply_events(&mut self, batch: &mut Vec<InputRecord>) -> Result<(), RuntimeError> {
        for event in self.consumer.context().take_events() {
            match event {
                Event::Assigned(starts) => {
                    self.positions.extend(starts);
                    self.shared.ready.store(true, Ordering::Relaxed);
                }
                Event::Revoked(tps) => {
                    for tp in &tps {
                        self.positions.remove(tp);
                    }
                    let owned = &self.positions;
                    batch.retain(|r| owned.contains_key(&(r.meta.topic.clone(), r.meta.partition)));
                    self.shared.ready.store(false, Ordering::Relaxed);
                }
                Event::Failed(e) => return Err(RuntimeError::Restore(e)),
            }
        }
        Ok(())
    }

    /// Stage → dead letters → commit, retrying transient failures with back-off. `Ok(false)`:
    /// a stop was requested while the store was failing (the batch is left to the next run).
    fn apply(&mut self, batch: &[InputRecord]) -> Result<bool, RuntimeError> {
        let started = Instant::now();
        let mut backoff = MIN_BACKOFF;
        let rejects = loop {
            match self.attempt(batch) {
                Ok(r) => break r,
                Err(SinkError::Fatal(e)) => {
                    return Err(RuntimeError::Restore(format!("sink: {e}")));
                }
                Err(SinkError::Transient(e)) => {
                    self.shared.retries.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!(RETRIES, "app" => self.cfg.app_id.clone()).increment(1);
                    tracing::warn!(error = %e, ?backoff, "batch failed, retrying");
                    if self.shared.stop.load(Ordering::Relaxed) {
                        return Ok(false);
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        self.committed(batch, &rejects, started.elapsed());
        Ok(true)
    }

    fn attempt(&self, batch: &[InputRecord]) -> Result<Vec<Reject>, SinkError> {
        let mut sink = self.sink.lock().expect("sink lock");
        let rejects = match self.rt.block_on(sink.stage(batch)) {
            Ok(r) => r,
            Err(e) => {
                self.rt.block_on(sink.rollback());
                return Err(e);
            }
        };
        if let Err(e) = self.dlq.send(batch, &rejects) {
            self.rt.block_on(sink.rollback());
            return Err(SinkError::Transient(format!("dead-letter topic: {e}")));
        }
        self.rt.block_on(sink.commit())?;
        Ok(rejects)
    }

    fn committed(&mut self, batch: &[InputRecord], rejects: &[Reject], elapsed: Duration) {
        let app = self.cfg.app_id.clone();
        let mut by_topic: HashMap<&str, u64> = HashMap::new();
        for r in batch {
            *by_topic.entry(r.meta.topic.as_str()).or_default() += 1;
        }
        for r in rejects {
            *by_topic
                .entry(batch[r.index].meta.topic.as_str())
                .or_default() -= 1;
            metrics::counter!(DEAD, "app" => app.clone(), "class" => r.class.clone()).increment(1);
        }
        for (t, n) in by_topic {
            metrics::counter!(APPLIED, "app" => app.clone(), "topic" => t.to_owned()).increment(n);
        }
        metrics::histogram!(BATCH_SECONDS, "app" => app).record(elapsed.as_secs_f64());
        let s = &self.shared;
        s.applied.fetch_add(batch.len() as u64, Ordering::Relaxed);
        s.dead_lettered
            .fetch_add(rejects.len() as u64, Ordering::Relaxed);
        s.batches.fetch_add(1, Ordering::Relaxed);
        // For lag dashboards only: the sink's store, not these, decides where reading resumes.
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in next_offsets(batch) {
            let _ = tpl.add_partition_offset(&t, p, Offset::Offset(o));
        }
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(error = %e, "committing offsets for lag visibility");
        }
    }
}
