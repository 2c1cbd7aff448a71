//! Topics the runtime owns (changelogs, dead-letter topics) and state restore from changelogs.
//!
//! A changelog partition `p` holds the state of input partition `p` (the task), written in the
//! same transaction as the input offsets, so after a crash the committed changelog is exactly
//! the state that matches the committed offsets.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::RuntimeError;

/// A store's contents: key → framed value.
pub type StoreData = BTreeMap<Vec<u8>, Vec<u8>>;

const META_TIMEOUT: Duration = Duration::from_secs(10);

/// Restore logs its progress every this many changelog records.
pub const RESTORE_LOG_EVERY: u64 = 100_000;

/// Name of `store`'s changelog for `app` (the catalogue's convention).
pub fn changelog_topic(app: &str, store: &str) -> String {
    techpotli_topics::catalogue().changelog(app, store)
}

/// Name of repartition topic `name` of `app` (the catalogue's convention).
pub fn repartition_topic(app: &str, name: &str) -> String {
    techpotli_topics::catalogue().repartition(app, name)
}

/// Name of the topic `input`'s late records go to (the catalogue's convention).
pub fn late_topic(input: &str) -> String {
    techpotli_topics::catalogue().late(input)
}

/// Name of `input`'s dead-letter topic (the catalogue's convention).
pub fn dlq_topic(input: &str) -> String {
    format!(
        "{input}{}",
        techpotli_topics::catalogue().conventions.dlq_suffix
    )
}

/// Partition count of `topic`, `None` when it does not exist.
pub fn partition_count(bootstrap: &str, topic: &str) -> Result<Option<i32>, RuntimeError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), META_TIMEOUT)?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len() as i32))
}

/// How long a topic a processor needs may be missing before that is an error: Apache Kafka
/// answers CreateTopics before every broker's metadata lists the topic, so a processor started
/// right after `topics apply` can look a moment too early.
const MISSING_TOPIC_GRACE: Duration = Duration::from_secs(15);

/// [`partition_count`] of a topic that must exist, `None` only once [`MISSING_TOPIC_GRACE`]
/// passed without it.
pub fn required_partition_count(bootstrap: &str, topic: &str) -> Result<Option<i32>, RuntimeError> {
    let deadline = Instant::now() + MISSING_TOPIC_GRACE;
    loop {
        if let Some(n) = partition_count(bootstrap, topic)? {
            return Ok(Some(n));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tracing::info!(%topic, "topic not in the cluster's metadata yet; waiting");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What a processor reads and writes besides its outputs, for [`ensure_topics`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Topology<'a> {
    /// Stream inputs (must exist).
    pub inputs: &'a [String],
    /// Co-partitioned table topics (must exist with the inputs' partition count).
    pub tables: &'a [String],
    /// Repartition topics (full names), created with the inputs' partition count.
    pub repartitions: &'a [String],
    /// State stores, each with a compacted changelog.
    pub stores: &'a [String],
    /// Create `<input>.late` for every input and repartition topic.
    pub late: bool,
}

/// Creates what a processor needs when missing — changelogs (compacted), repartition topics,
/// dead-letter topics (and late topics) of everything it consumes — with the inputs'
/// partition count, and returns that count. A changelog with fewer partitions would lose the
/// higher tasks' state and a table with another count is not co-partitioned: both are errors.
pub fn ensure_topics(bootstrap: &str, app: &str, t: &Topology<'_>) -> Result<i32, RuntimeError> {
    let mut partitions = 0;
    for topic in t.inputs {
        let n = required_partition_count(bootstrap, topic)?
            .ok_or_else(|| RuntimeError::Config(format!("input topic {topic} does not exist")))?;
        partitions = partitions.max(n);
    }
    for topic in t.tables {
        match required_partition_count(bootstrap, topic)? {
            None => {
                return Err(RuntimeError::Config(format!(
                    "table topic {topic} does not exist"
                )));
            }
            Some(n) if n != partitions => {
                return Err(RuntimeError::Config(format!(
                    "table topic {topic} has {n} partitions, inputs have {partitions}: not \
                     co-partitioned (repartition the stream or use a global table)"
                )));
            }
            Some(_) => {}
        }
    }
    let consumed: Vec<&String> = t
        .inputs
        .iter()
        .chain(t.tables)
        .chain(t.repartitions)
        .collect();
    let mut wanted: Vec<(String, &str)> = t
        .stores
        .iter()
        .map(|s| (changelog_topic(app, s), "compact"))
        .collect();
    wanted.extend(t.repartitions.iter().map(|r| (r.clone(), "delete")));
    wanted.extend(consumed.iter().map(|c| (dlq_topic(c), "dlq")));
    if t.late {
        wanted.extend(
            t.inputs
                .iter()
                .chain(t.repartitions)
                .map(|c| (late_topic(c), "dlq")),
        );
    }
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    for (name, kind) in &wanted {
        match partition_count(bootstrap, name)? {
            Some(n) if *kind == "compact" && n < partitions => {
                return Err(RuntimeError::Config(format!(
                    "changelog {name} has {n} partitions, inputs have {partitions}"
                )));
            }
            Some(_) => continue,
            None => {}
        }
        // -1: the cluster's default.replication.factor. A changelog on one broker of a cluster
        // would lose the state (and stall its task) with that broker.
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(-1));
        let retention = techpotli_topics::catalogue()
            .conventions
            .dlq_retention_ms
            .to_string();
        topic = match *kind {
            "compact" => topic.set("cleanup.policy", "compact"),
            // Dead letters and late records are kept for the catalogue's DLQ retention, long
            // enough to inspect and replay.
            "dlq" => topic
                .set("cleanup.policy", "delete")
                .set("retention.ms", &retention),
            _ => topic.set("cleanup.policy", "delete"),
        };
        let res = futures::executor::block_on(admin.create_topics([&topic], &AdminOptions::new()))?;
        for r in res {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, e)) => return Err(RuntimeError::Config(format!("creating {t}: {e}"))),
            }
        }
        tracing::info!(topic = %name, partitions, kind, "created topic");
    }
    Ok(partitions)
}

/// The restore consumer's context: reaching the end of a partition is how restore knows it is
/// done, not an error worth an ERROR log line.
pub(crate) struct RestoreContext;

impl rdkafka::ClientContext for RestoreContext {
    fn error(&self, error: KafkaError, reason: &str) {
        // librdkafka reports the end both per partition and, from its error callback, as a
        // global PartitionEOF.
        let eof = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !eof {
            tracing::error!(%error, reason, "restore consumer error");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for RestoreContext {}

/// Reads changelog partitions `partitions` of `topic` from the beginning to their end
/// (read_committed: aborted writes of crashed instances are skipped) and returns each
/// partition's state. Call only after `init_transactions` of this instance, which aborts any
/// transaction its zombie left open, so the end (LSO) is reached promptly. Returns the state
/// and the number of changelog records read; progress is logged every
/// [`RESTORE_LOG_EVERY`] records.
pub fn restore(
    bootstrap: &str,
    topic: &str,
    partitions: &[i32],
    timeout: Duration,
) -> Result<(BTreeMap<i32, StoreData>, u64), RuntimeError> {
    let upto: BTreeMap<i32, Option<i64>> = partitions.iter().map(|p| (*p, None)).collect();
    let r = restore_upto(bootstrap, topic, &upto, false, timeout)?;
    Ok((r.data, r.records))
}

/// Errors of a cluster that is failing over or briefly unreachable, not of a wrong request.
fn transient(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::OperationTimedOut
                | C::RequestTimedOut
                | C::BrokerTransportFailure
                | C::AllBrokersDown
                | C::LeaderNotAvailable
                | C::NotLeaderForPartition
                | C::NotCoordinator
                | C::CoordinatorNotAvailable
                | C::CoordinatorLoadInProgress
                | C::NetworkException
                | C::UnknownTopicOrPartition
                | C::UnknownPartition
        )
    )
}

/// Calls `f` until it succeeds, a non-transient error, or `deadline`, backing off up to 1 s.
fn until_deadline<T>(
    deadline: Instant,
    topic: &str,
    mut f: impl FnMut() -> Result<T, KafkaError>,
) -> Result<T, RuntimeError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if transient(&e) && Instant::now() + backoff < deadline => {
                tracing::warn!(%topic, error = %e, "restore waits for the cluster");
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// What [`restore_upto`] read.
#[derive(Debug, Default)]
pub struct Restored {
    pub data: BTreeMap<i32, StoreData>,
    /// Records applied.
    pub records: u64,
    /// Per partition, the offset after the last record seen, bound or not (absent: none).
    pub next_offset: BTreeMap<i32, i64>,
}

/// [`restore`] with a bound per partition: records at or past `Some(offset)` are not applied
/// (a co-partitioned table restores up to the group's committed offset; the rest is input).
/// With `scan_past`, reading goes on to the end anyway, to learn where the last record past
/// the bound is ([`Restored::next_offset`]).
pub fn restore_upto(
    bootstrap: &str,
    topic: &str,
    upto: &BTreeMap<i32, Option<i64>>,
    scan_past: bool,
    timeout: Duration,
) -> Result<Restored, RuntimeError> {
    let mut out = Restored {
        data: upto.keys().map(|p| (*p, StoreData::new())).collect(),
        ..Restored::default()
    };
    let consumer: BaseConsumer<RestoreContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // Never used to join or commit (partitions are assigned by hand), but librdkafka
        // reports "Unknown group" on poll without one.
        .set("group.id", format!("{topic}.restore"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create_with_context(RestoreContext)?;
    let mut tpl = TopicPartitionList::new();
    let mut pending = HashSet::new();
    let deadline = Instant::now() + timeout;
    for (&p, &bound) in upto {
        let (low, high) = until_deadline(deadline, topic, || {
            consumer
                .fetch_watermarks(topic, p, META_TIMEOUT)
                .inspect_err(|_| {
                    // librdkafka answers from its metadata cache: refresh it, or a leader
                    // elected after a failover stays unknown to this client.
                    let _ = consumer.fetch_metadata(Some(topic), META_TIMEOUT);
                })
        })?;
        let end = match bound {
            Some(b) if !scan_past => b.min(high),
            _ => high,
        };
        if end > low {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
            pending.insert(p);
        }
    }
    if pending.is_empty() {
        return Ok(out);
    }
    consumer.assign(&tpl)?;
    while !pending.is_empty() {
        if Instant::now() > deadline {
            return Err(RuntimeError::Restore(format!(
                "{topic}: partitions {pending:?} not restored within {timeout:?}"
            )));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                pending.remove(&p);
            }
            // A leader moving or a broker down is a pause (librdkafka keeps fetching once the
            // partition has a leader again); the deadline bounds it.
            Some(Err(e)) if transient(&e) => {
                tracing::warn!(%topic, error = %e, "restore waits for the cluster");
            }
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(m)) => {
                let p = m.partition();
                if !pending.contains(&p) {
                    continue;
                }
                out.next_offset.insert(p, m.offset() + 1);
                let bound = upto.get(&p).copied().flatten();
                if bound.is_some_and(|b| m.offset() >= b) {
                    if !scan_past {
                        pending.remove(&p);
                    }
                    continue;
                }
                out.records += 1;
                if out.records.is_multiple_of(RESTORE_LOG_EVERY) {
                    tracing::info!(%topic, records = out.records, pending = pending.len(), "restoring");
                }
                let data = out.data.entry(p).or_default();
                let key = m.key().unwrap_or_default().to_vec();
                match m.payload() {
                    Some(v) => data.insert(key, v.to_vec()),
                    None => data.remove(&key),
                };
                if !scan_past && bound.is_some_and(|b| m.offset() + 1 >= b) {
                    pending.remove(&p);
                }
            }
        }
    }
    let partitions: Vec<i32> = upto.keys().copied().collect();
    tracing::info!(%topic, ?partitions, records = out.records, "restored state");
    Ok(out)
}
