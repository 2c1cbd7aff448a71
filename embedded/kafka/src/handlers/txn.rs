//! InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn.

use std::time::Instant;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProducerId, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};

use super::{code, code_of, topic_name};
use crate::broker::{Broker, now_ms};
use crate::cluster::Cluster;
use crate::storage::MetaEvent;
use crate::txn::{self, Written};

/// Makes a coordinator step durable. Called with the cluster lock held so markers reach the
/// segment files in offset order with produced batches. The outcome is journaled before the
/// markers: recovery writes markers a completed transaction lacks, never the reverse.
fn make_durable(broker: &Broker, cluster: &Cluster, txn_id: Option<&str>, written: &Written) {
    let Some(store) = &broker.store else {
        return;
    };
    if let Some(meta) = txn_id.and_then(|id| cluster.txns.get(id)) {
        store.record_txn(txn_id.expect("checked"), meta);
    }
    if let Err(e) = store.persist_batches(written) {
        tracing::error!(error = %e, "failed to persist transaction markers");
    }
}

fn wake(broker: &Broker, written: &Written) {
    if !written.is_empty() {
        broker.data_ready.notify_waiters();
    }
}

pub fn init_producer_id(broker: &Broker, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let txn_id = req.transactional_id.as_ref().map(|t| t.0.to_string());
    let mut cluster = broker.cluster.lock();
    let mut groups = broker.groups.lock();
    let result = txn::init_producer_id(
        &mut cluster,
        &mut groups,
        txn_id.as_deref(),
        req.transaction_timeout_ms,
        (req.producer_id.0, req.producer_epoch),
        now_ms(),
    );
    drop(groups);
    match result {
        Ok(((pid, epoch), written)) => {
            if let Some(store) = &broker.store {
                store.record(&MetaEvent::ProducerIds {
                    next: cluster.next_producer_id,
                });
            }
            make_durable(broker, &cluster, txn_id.as_deref(), &written);
            drop(cluster);
            wake(broker, &written);
            InitProducerIdResponse::default()
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
        }
        Err(e) => InitProducerIdResponse::default()
            .with_error_code(e.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    }
}

pub fn add_partitions(
    broker: &Broker,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let txn_id = req.v3_and_below_transactional_id.0.to_string();
    let wanted: Vec<(String, i32)> = req
        .v3_and_below_topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.0.to_string(), *p)))
        .collect();
    let mut cluster = broker.cluster.lock();
    let result = txn::add_partitions(
        &mut cluster,
        &txn_id,
        req.v3_and_below_producer_id.0,
        req.v3_and_below_producer_epoch,
        wanted.clone(),
        Instant::now(),
    );
    let per_partition: Vec<((String, i32), Option<ResponseError>)> = match result {
        Ok(r) => r,
        Err(e) => wanted.into_iter().map(|tp| (tp, Some(e))).collect(),
    };
    make_durable(broker, &cluster, Some(&txn_id), &Vec::new());
    drop(cluster);
    let results = req
        .v3_and_below_topics
        .iter()
        .map(|t| {
            let parts = per_partition
                .iter()
                .filter(|((name, _), _)| name == t.name.0.as_str())
                .map(|((_, p), e)| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(code(*e))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(parts)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}

pub fn add_offsets(broker: &Broker, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let txn_id = req.transactional_id.0.to_string();
    let mut cluster = broker.cluster.lock();
    let r = txn::add_offsets(
        &mut cluster,
        &txn_id,
        req.producer_id.0,
        req.producer_epoch,
        req.group_id.0.as_str(),
        Instant::now(),
    );
    make_durable(broker, &cluster, Some(&txn_id), &Vec::new());
    drop(cluster);
    AddOffsetsToTxnResponse::default().with_error_code(code_of(&r))
}

pub fn txn_offset_commit(broker: &Broker, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let group = req.group_id.0.to_string();
    let items = req.topics.iter().flat_map(|t| {
        t.partitions.iter().map(|p| {
            (
                t.name.0.to_string(),
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
                p.committed_metadata.as_ref().map(ToString::to_string),
            )
        })
    });
    let cluster = broker.cluster.lock();
    let (ok, mut errors) = super::offsets::screen(&cluster, items);
    let result = txn::check_offset_commit(
        &cluster,
        req.transactional_id.0.as_str(),
        req.producer_id.0,
        req.producer_epoch,
        &group,
    )
    .and_then(|()| {
        broker.groups.lock().txn_commit(
            &group,
            req.producer_id.0,
            req.generation_id,
            req.member_id.as_str(),
            req.group_instance_id.as_deref(),
            ok.clone(),
        )
    });
    drop(cluster);
    match result {
        Ok(()) => {
            if let Some(store) = &broker.store {
                store.record(&MetaEvent::TxnOffsets {
                    group,
                    producer_id: req.producer_id.0,
                    offsets: ok,
                });
            }
        }
        Err(e) => {
            for (tp, _) in ok {
                errors.insert(tp, e);
            }
        }
    }
    let topics = req
        .topics
        .iter()
        .map(|t| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic_name(t.name.0.to_string()))
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let e = errors
                                .get(&(t.name.0.to_string(), p.partition_index))
                                .copied();
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code(e))
                        })
                        .collect(),
                )
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

pub fn end_txn(broker: &Broker, req: EndTxnRequest) -> EndTxnResponse {
    let txn_id = req.transactional_id.0.to_string();
    let mut cluster = broker.cluster.lock();
    let mut groups = broker.groups.lock();
    let result = txn::end_txn(
        &mut cluster,
        &mut groups,
        &txn_id,
        req.producer_id.0,
        req.producer_epoch,
        req.committed,
        now_ms(),
    );
    drop(groups);
    match result {
        Ok(written) => {
            make_durable(broker, &cluster, Some(&txn_id), &written);
            drop(cluster);
            wake(broker, &written);
            EndTxnResponse::default()
        }
        Err(e) => EndTxnResponse::default().with_error_code(e.code()),
    }
}
