//! Topics the runtime owns (changelogs, dead-letter topics) and state restore from changelogs.
//!
//! A changelog partition `p` holds the state of input partition `p` (the task), written in the
//! same transaction as the input offsets, so after a crash the committed changelog is exactly
//! the state that matches the committed offsets.

use std::collections::{BTreeMap, HashMap, HashSet};
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
pub type StoreData = HashMap<Vec<u8>, Vec<u8>>;

const META_TIMEOUT: Duration = Duration::from_secs(10);

/// Restore logs its progress every this many changelog records.
pub const RESTORE_LOG_EVERY: u64 = 100_000;

/// Name of `store`'s changelog for `app` (the catalogue's convention).
pub fn changelog_topic(app: &str, store: &str) -> String {
    techpotli_topics::catalogue().changelog(app, store)
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

/// Creates the changelog (compacted) and dead-letter topics when missing, with the inputs'
/// partition count. Returns that count. An existing changelog with fewer partitions would
/// lose state of the higher tasks, so it is an error.
pub fn ensure_topics(
    bootstrap: &str,
    app: &str,
    inputs: &[String],
    stores: &[String],
) -> Result<i32, RuntimeError> {
    let mut partitions = 0;
    for t in inputs {
        let n = partition_count(bootstrap, t)?
            .ok_or_else(|| RuntimeError::Config(format!("input topic {t} does not exist")))?;
        partitions = partitions.max(n);
    }
    let mut wanted: Vec<(String, &str)> = stores
        .iter()
        .map(|s| (changelog_topic(app, s), "compact"))
        .collect();
    wanted.extend(inputs.iter().map(|t| (dlq_topic(t), "delete")));
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    for (name, cleanup) in &wanted {
        match partition_count(bootstrap, name)? {
            Some(n) if cleanup == &"compact" && n < partitions => {
                return Err(RuntimeError::Config(format!(
                    "changelog {name} has {n} partitions, inputs have {partitions}"
                )));
            }
            Some(_) => continue,
            None => {}
        }
        let retention = techpotli_topics::catalogue()
            .conventions
            .dlq_retention_ms
            .to_string();
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1))
            .set("cleanup.policy", cleanup);
        if *cleanup == "delete" {
            // Dead letters are kept for the catalogue's DLQ retention, long enough to replay.
            topic = topic.set("retention.ms", &retention);
        }
        let res = futures::executor::block_on(admin.create_topics([&topic], &AdminOptions::new()))?;
        for r in res {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, e)) => return Err(RuntimeError::Config(format!("creating {t}: {e}"))),
            }
        }
        tracing::info!(topic = %name, partitions, cleanup, "created topic");
    }
    Ok(partitions)
}

/// The restore consumer's context: reaching the end of a partition is how restore knows it is
/// done, not an error worth an ERROR log line.
struct RestoreContext;

impl rdkafka::ClientContext for RestoreContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(error, KafkaError::PartitionEOF(_)) {
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
    let mut out: BTreeMap<i32, StoreData> =
        partitions.iter().map(|p| (*p, StoreData::new())).collect();
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
    for &p in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, META_TIMEOUT)?;
        if high > low {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
            pending.insert(p);
        }
    }
    if pending.is_empty() {
        return Ok((out, 0));
    }
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + timeout;
    let mut records = 0u64;
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
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(m)) => {
                records += 1;
                if records.is_multiple_of(RESTORE_LOG_EVERY) {
                    tracing::info!(%topic, records, pending = pending.len(), "restoring");
                }
                let data = out.entry(m.partition()).or_default();
                let key = m.key().unwrap_or_default().to_vec();
                match m.payload() {
                    Some(v) => data.insert(key, v.to_vec()),
                    None => data.remove(&key),
                };
            }
        }
    }
    tracing::info!(%topic, ?partitions, records, "restored state");
    Ok((out, records))
}
