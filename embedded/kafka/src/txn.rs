//! The transaction coordinator (KIP-98, KIP-360, KIP-447) for a single broker.
//!
//! With one broker the two-phase commit collapses: EndTxn writes every marker and applies the
//! staged group offsets under the broker lock, so a transaction is Ongoing or Empty (complete)
//! and never observed half-done.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;

use crate::batch::{Batch, Marker};
use crate::cluster::Cluster;
use crate::groups::Groups;

/// Kafka's `transaction.max.timeout.ms` default.
pub const MAX_TXN_TIMEOUT_MS: i32 = 900_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TxnState {
    Empty,
    Ongoing,
}

/// Coordinator state of one transactional id.
#[derive(Debug, Clone)]
pub struct TxnMeta {
    pub producer_id: i64,
    pub epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub groups: BTreeSet<String>,
    pub started: Option<Instant>,
    /// Outcome of the last EndTxn, so a retried EndTxn is answered, not refused.
    pub last_outcome: Option<bool>,
}

/// Batches written while completing a transaction, to persist and to wake fetchers.
pub type Written = Vec<(String, i32, Batch)>;

/// Per-partition outcome of AddPartitionsToTxn.
pub type PartitionResults = Vec<((String, i32), Option<ResponseError>)>;

fn check(meta: &TxnMeta, producer_id: i64, epoch: i16) -> Result<(), ResponseError> {
    if meta.producer_id != producer_id {
        return Err(ResponseError::InvalidProducerIdMapping);
    }
    if epoch < meta.epoch {
        return Err(ResponseError::ProducerFenced);
    }
    if epoch > meta.epoch {
        return Err(ResponseError::InvalidProducerEpoch);
    }
    Ok(())
}

fn meta_mut<'a>(
    cluster: &'a mut Cluster,
    txn_id: &str,
    producer_id: i64,
    epoch: i16,
) -> Result<&'a mut TxnMeta, ResponseError> {
    let meta = cluster
        .txns
        .get_mut(txn_id)
        .ok_or(ResponseError::InvalidProducerIdMapping)?;
    check(meta, producer_id, epoch)?;
    Ok(meta)
}

/// Writes markers to every partition of the transaction and settles its group offsets.
fn complete(
    cluster: &mut Cluster,
    groups: &mut Groups,
    txn_id: &str,
    commit: bool,
    now_ms: i64,
) -> Written {
    let meta = cluster.txns.get_mut(txn_id).expect("caller checked");
    let (pid, epoch) = (meta.producer_id, meta.epoch);
    let partitions = std::mem::take(&mut meta.partitions);
    let group_ids = std::mem::take(&mut meta.groups);
    meta.state = TxnState::Empty;
    meta.started = None;
    meta.last_outcome = Some(commit);
    let marker = if commit {
        Marker::Commit
    } else {
        Marker::Abort
    };
    let mut written = Vec::new();
    for (topic, p) in partitions {
        let at = cluster.append_at(&topic, now_ms);
        if let Some(log) = cluster.partition_mut(&topic, p) {
            written.push((topic, p, log.append_marker(pid, epoch, marker, at)));
        }
    }
    for g in group_ids {
        groups.complete_txn(&g, pid, commit);
    }
    written
}

/// InitProducerId: a fresh idempotent producer id, or (transactional) the id's producer with
/// its epoch bumped, any open transaction aborted first so the previous instance is fenced.
pub fn init_producer_id(
    cluster: &mut Cluster,
    groups: &mut Groups,
    txn_id: Option<&str>,
    timeout_ms: i32,
    current: (i64, i16),
    now_ms: i64,
) -> Result<((i64, i16), Written), ResponseError> {
    let Some(txn_id) = txn_id.filter(|t| !t.is_empty()) else {
        return Ok(((cluster.allocate_producer_id(), 0), Vec::new()));
    };
    if timeout_ms <= 0 || timeout_ms > MAX_TXN_TIMEOUT_MS {
        return Err(ResponseError::InvalidTransactionTimeout);
    }
    let mut written = Vec::new();
    if let Some(meta) = cluster.txns.get(txn_id) {
        let (pid, epoch) = current;
        if pid >= 0 && (pid != meta.producer_id || (epoch != meta.epoch && epoch != meta.epoch - 1))
        {
            return Err(ResponseError::ProducerFenced);
        }
        let ongoing = meta.state == TxnState::Ongoing;
        let exhausted = meta.epoch >= i16::MAX - 1;
        let new_pid = if exhausted {
            Some(cluster.allocate_producer_id())
        } else {
            None
        };
        let meta = cluster.txns.get_mut(txn_id).expect("present");
        meta.epoch += 1;
        if ongoing {
            written = complete(cluster, groups, txn_id, false, now_ms);
        }
        let meta = cluster.txns.get_mut(txn_id).expect("present");
        if let Some(p) = new_pid {
            meta.producer_id = p;
            meta.epoch = 0;
        }
        meta.timeout_ms = timeout_ms;
        meta.last_outcome = None;
        return Ok(((meta.producer_id, meta.epoch), written));
    }
    let pid = cluster.allocate_producer_id();
    cluster.txns.insert(
        txn_id.to_owned(),
        TxnMeta {
            producer_id: pid,
            epoch: 0,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            started: None,
            last_outcome: None,
        },
    );
    Ok(((pid, 0), written))
}

fn begin(meta: &mut TxnMeta, now: Instant) {
    if meta.state == TxnState::Empty {
        meta.state = TxnState::Ongoing;
        meta.started = Some(now);
        meta.last_outcome = None;
    }
}

/// AddPartitionsToTxn: per-partition results, or one error for the whole request.
pub fn add_partitions(
    cluster: &mut Cluster,
    txn_id: &str,
    producer_id: i64,
    epoch: i16,
    partitions: Vec<(String, i32)>,
    now: Instant,
) -> Result<PartitionResults, ResponseError> {
    meta_mut(cluster, txn_id, producer_id, epoch)?;
    let unknown: Vec<bool> = partitions
        .iter()
        .map(|(t, p)| cluster.partition(t, *p).is_none())
        .collect();
    if unknown.iter().any(|u| *u) {
        // Kafka fails the whole request: unknown partitions get their error, the rest
        // OPERATION_NOT_ATTEMPTED.
        return Ok(partitions
            .into_iter()
            .zip(unknown)
            .map(|(tp, u)| {
                let e = if u {
                    ResponseError::UnknownTopicOrPartition
                } else {
                    ResponseError::OperationNotAttempted
                };
                (tp, Some(e))
            })
            .collect());
    }
    let meta = cluster.txns.get_mut(txn_id).expect("checked");
    begin(meta, now);
    meta.partitions.extend(partitions.iter().cloned());
    Ok(partitions.into_iter().map(|tp| (tp, None)).collect())
}

/// AddOffsetsToTxn.
pub fn add_offsets(
    cluster: &mut Cluster,
    txn_id: &str,
    producer_id: i64,
    epoch: i16,
    group_id: &str,
    now: Instant,
) -> Result<(), ResponseError> {
    if group_id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    let meta = meta_mut(cluster, txn_id, producer_id, epoch)?;
    begin(meta, now);
    meta.groups.insert(group_id.to_owned());
    Ok(())
}

/// The transaction `txn_id` if `(producer_id, epoch)` is its current producer. Data-path
/// requests (produce, offset commits) report a stale epoch as INVALID_PRODUCER_EPOCH, as the
/// partition leader and group coordinator do in Kafka.
fn current_txn<'a>(
    cluster: &'a Cluster,
    txn_id: &str,
    producer_id: i64,
    epoch: i16,
) -> Result<&'a TxnMeta, ResponseError> {
    let meta = cluster
        .txns
        .get(txn_id)
        .ok_or(ResponseError::InvalidProducerIdMapping)?;
    check(meta, producer_id, epoch).map_err(|e| match e {
        ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        e => e,
    })?;
    Ok(meta)
}

/// Checks that TxnOffsetCommit comes from the current producer of a transaction that added
/// the group.
pub fn check_offset_commit(
    cluster: &Cluster,
    txn_id: &str,
    producer_id: i64,
    epoch: i16,
    group_id: &str,
) -> Result<(), ResponseError> {
    let meta = current_txn(cluster, txn_id, producer_id, epoch)?;
    if meta.state != TxnState::Ongoing || !meta.groups.contains(group_id) {
        return Err(ResponseError::InvalidTxnState);
    }
    Ok(())
}

/// Checks that a transactional produce belongs to the current transaction on that partition.
pub fn check_produce(
    cluster: &Cluster,
    txn_id: &str,
    producer_id: i64,
    epoch: i16,
    topic: &str,
    partition: i32,
) -> Result<(), ResponseError> {
    let meta = current_txn(cluster, txn_id, producer_id, epoch)?;
    if !meta.partitions.contains(&(topic.to_owned(), partition)) {
        return Err(ResponseError::InvalidTxnState);
    }
    Ok(())
}

/// EndTxn: commit or abort.
pub fn end_txn(
    cluster: &mut Cluster,
    groups: &mut Groups,
    txn_id: &str,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    now_ms: i64,
) -> Result<Written, ResponseError> {
    let meta = meta_mut(cluster, txn_id, producer_id, epoch)?;
    match (meta.state, meta.last_outcome) {
        (TxnState::Ongoing, _) => Ok(complete(cluster, groups, txn_id, commit, now_ms)),
        (TxnState::Empty, Some(done)) if done == commit => Ok(Vec::new()),
        (TxnState::Empty, _) => Err(ResponseError::InvalidTxnState),
    }
}

/// Aborts transactions that outlived their timeout, bumping the epoch so the stale producer
/// is fenced (as Kafka does).
pub fn expire(
    cluster: &mut Cluster,
    groups: &mut Groups,
    now: Instant,
    now_ms: i64,
) -> (Vec<String>, Written) {
    let overdue: Vec<String> = cluster
        .txns
        .iter()
        .filter(|(_, m)| {
            m.state == TxnState::Ongoing
                && m.started.is_some_and(|s| {
                    now.duration_since(s)
                        > Duration::from_millis(u64::try_from(m.timeout_ms).unwrap_or(0))
                })
        })
        .map(|(id, _)| id.clone())
        .collect();
    let mut written = Vec::new();
    for id in &overdue {
        tracing::warn!(transactional_id = %id, "aborting transaction that exceeded its timeout");
        let meta = cluster.txns.get_mut(id).expect("listed");
        meta.epoch += 1;
        written.extend(complete(cluster, groups, id, false, now_ms));
    }
    (overdue, written)
}
