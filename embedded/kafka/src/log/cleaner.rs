//! Retention (delete policy) and compaction (compact policy), run by the maintenance timer.
//!
//! Compaction keeps the latest record per key below the last stable offset, drops aborted
//! transactional records and, after `delete.retention.ms`, tombstones. Surviving records keep
//! their offsets; batches are re-encoded with their original codec, producer and sequence.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::records::{RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

use crate::batch::Batch;
use crate::cluster::Cluster;
use crate::log::config::TopicConfig;
use crate::log::partition::PartitionLog;
use crate::storage::Store;

pub fn run(cluster: &mut Cluster, store: Option<&Store>, now_ms: i64) {
    for (name, topic) in &mut cluster.topics {
        let config = topic.config.clone();
        for (p, log) in topic.partitions.iter_mut().enumerate() {
            if config.delete_policy() {
                retain(name, p as i32, log, &config, store, now_ms);
            }
            if config.compact() {
                compact(name, p as i32, log, &config, store, now_ms);
            }
        }
    }
}

fn retain(
    topic: &str,
    p: i32,
    log: &mut PartitionLog,
    config: &TopicConfig,
    store: Option<&Store>,
    now_ms: i64,
) {
    let mut new_start = log.log_start();
    let retention_ms = config.retention_ms();
    let retention_bytes = config.retention_bytes();
    let mut size = log.size_bytes() as i64;
    for b in log.batches() {
        let expired = retention_ms >= 0 && b.max_timestamp < now_ms - retention_ms;
        let oversize = retention_bytes >= 0 && size > retention_bytes;
        if !(expired || oversize) {
            break;
        }
        size -= b.size() as i64;
        new_start = b.next_offset();
    }
    if new_start > log.log_start() {
        log.truncate_front(new_start);
        if let Some(store) = store {
            store.truncate_front(topic, p, log.log_start());
        }
    }
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
    let upto = log.last_stable_offset();
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
