//! Retention (delete policy: whole segments, at the retention check) and compaction (compact
//! policy, on the maintenance tick).
//!
//! Compaction keeps the latest record per key below the last stable offset and below the
//! active segment (Kafka never cleans the segment being written; it rolls by `segment.ms` or
//! `segment.bytes` on the next append), drops aborted transactional records and, after
//! `delete.retention.ms`, tombstones. Surviving records keep their offsets; batches are
//! re-encoded with their original codec, producer and sequence.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::records::{RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

use crate::batch::Batch;
use crate::cluster::Cluster;
use crate::log::config::TopicConfig;
use crate::log::partition::PartitionLog;
use crate::storage::Store;

/// Compaction of every compacted topic; runs on the maintenance tick.
pub fn compact_all(cluster: &mut Cluster, store: Option<&Store>, now_ms: i64) {
    for (name, topic) in &mut cluster.topics {
        if !topic.config.compact() {
            continue;
        }
        let config = topic.config.clone();
        for (p, log) in topic.partitions.iter_mut().enumerate() {
            compact(name, p as i32, log, &config, store, now_ms);
        }
    }
}

/// Kafka's retention check (`log.retention.check.interval.ms`): deletes the expired whole
/// segments of every topic with the delete policy. Returns how many partitions moved their
/// log start.
pub fn retain_all(cluster: &mut Cluster, store: Option<&Store>, now_ms: i64) -> usize {
    let mut moved = 0;
    for (name, topic) in &mut cluster.topics {
        if !topic.config.delete_policy() {
            continue;
        }
        for (p, log) in topic.partitions.iter_mut().enumerate() {
            let Some(new_start) = log.retention_start(&topic.config, now_ms) else {
                continue;
            };
            log.truncate_front(new_start);
            moved += 1;
            tracing::debug!(topic = %name, partition = p, log_start = log.log_start(), "retention deleted segments");
            if let Some(store) = store {
                store.truncate_front(name, p as i32, log.log_start());
            }
        }
    }
    moved
}

fn compact(
    topic: &str,
    p: i32,
    log: &mut PartitionLog,
    config: &TopicConfig,
    store: Option<&Store>,
    now_ms: i64,
) {
    let lag = config.min_compaction_lag_ms();
    let upto = log.last_stable_offset().min(log.active_segment_base());
    let cleanable: Vec<&Batch> = log
        .batches()
        .take_while(|b| b.next_offset() <= upto && b.max_timestamp <= now_ms - lag)
        .collect();
    let Some(end) = cleanable.last().map(|b| b.next_offset()) else {
        return;
    };
    let total: usize = cleanable.iter().map(|b| b.size()).sum();
    let dirty: usize = cleanable
        .iter()
        .filter(|b| b.base_offset >= log.cleaned_upto())
        .map(|b| b.size())
        .sum();
    if dirty == 0
        || (dirty as f64) < config.min_cleanable_dirty_ratio() * total as f64
            && log.cleaned_upto() > 0
    {
        return;
    }
    let aborted = log.aborted().to_vec();
    let is_aborted = |b: &Batch| {
        b.is_transactional()
            && aborted.iter().any(|a| {
                a.producer_id == b.producer_id
                    && a.first_offset <= b.base_offset
                    && b.base_offset <= a.last_offset
            })
    };
    let mut decoded = Vec::with_capacity(cleanable.len());
    let mut latest: HashMap<Bytes, i64> = HashMap::new();
    for b in &cleanable {
        if b.is_control() {
            decoded.push(None);
            continue;
        }
        let Ok(set) = RecordBatchDecoder::decode(&mut b.bytes.clone()) else {
            tracing::error!(
                topic,
                partition = p,
                offset = b.base_offset,
                "cannot decode batch; compaction skipped"
            );
            return;
        };
        if !is_aborted(b) {
            for r in &set.records {
                if let Some(k) = &r.key {
                    latest.insert(k.clone(), r.offset);
                }
            }
        }
        decoded.push(Some(set));
    }
    let horizon = now_ms - config.delete_retention_ms();
    // The last batch of each producer, and the last batch overall, keep at least their header
    // so the offset range and producers' last sequences survive a restart.
    let mut last_of_producer: HashMap<i64, i64> = HashMap::new();
    for b in cleanable.iter().filter(|b| b.has_producer()) {
        last_of_producer.insert(b.producer_id, b.base_offset);
    }
    let last_base = cleanable.last().map(|b| b.base_offset);
    let mut kept = Vec::with_capacity(cleanable.len());
    let mut changed = false;
    for (b, set) in cleanable.iter().zip(decoded) {
        let Some(set) = set else {
            kept.push((*b).clone());
            continue;
        };
        let survivors: Vec<_> = if is_aborted(b) {
            Vec::new()
        } else {
            set.records
                .iter()
                .filter(|r| {
                    let newest = r
                        .key
                        .as_ref()
                        .is_some_and(|k| latest.get(k) == Some(&r.offset));
                    let expired_tombstone = r.value.is_none() && b.max_timestamp < horizon;
                    newest && !expired_tombstone
                })
                .collect()
        };
        if survivors.len() == set.records.len() {
            kept.push((*b).clone());
            continue;
        }
        changed = true;
        if survivors.is_empty() {
            let keep_header = Some(b.base_offset) == last_base
                || (b.has_producer()
                    && last_of_producer.get(&b.producer_id) == Some(&b.base_offset));
            if keep_header {
                kept.push(b.emptied());
            }
            continue;
        }
        let mut buf = bytes::BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: set.compression,
        };
        if RecordBatchEncoder::encode(&mut buf, survivors.iter().copied(), &options).is_err() {
            tracing::error!(
                topic,
                partition = p,
                "re-encoding compacted batch failed; compaction skipped"
            );
            return;
        }
        match Batch::split_all(buf.freeze(), true).as_deref() {
            Ok([encoded]) => kept.push(b.restore_header_from(encoded)),
            other => {
                tracing::error!(
                    topic,
                    partition = p,
                    ?other,
                    "compacted batch did not re-encode as one batch; compaction skipped"
                );
                return;
            }
        }
    }
    log.set_cleaned_upto(end);
    if !changed {
        return;
    }
    log.replace_prefix(end, kept);
    if let Some(store) = store
        && let Err(e) = store.rewrite_partition(topic, p, log.batches())
    {
        tracing::error!(topic, partition = p, error = %e, "failed to rewrite compacted segments");
    }
    tracing::debug!(topic, partition = p, upto = end, "compacted");
}
