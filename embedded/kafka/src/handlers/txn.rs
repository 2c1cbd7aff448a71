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
use crate::storage::MetaEvent;
use crate::txn::{self, Written};

/// Persists what a coordinator step wrote and the transaction's new state, then wakes fetchers.
fn settle(broker: &Broker, txn_id: Option<&str>, written: &Written) {
    if let Some(store) = &broker.store {
        // Journal the outcome before the markers: recovery rewrites markers a completed
        // transaction is missing, never the other way round.
        if let Some(id) = txn_id
            && let Some(meta) = broker.cluster.lock().txns.get(id)
        {
            store.record_txn(id, meta);
        }
        if let Err(e) = store.persist_batches(written) {
            tracing::error!(error = %e, "failed to persist transaction markers");
        }
    }
    if !written.is_empty() {
        broker.data_ready.notify_waiters();
    }
}

pub fn init_producer_id(broker: &Broker, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let txn_id = req.transactional_id.as_ref().map(|t| t.0.to_string());
    let result = {
        let mut cluster = broker.cluster.lock();
        let mut groups = broker.groups.lock();
        txn::init_producer_id(
            &mut cluster,
            &mut groups,
            txn_id.as_deref(),
            req.transaction_timeout_ms,
            (req.producer_id.0, req.producer_epoch),
            now_ms(),
        )
    };
    match result {
        Ok(((pid, epoch), written)) => {
            if let Some(store) = &broker.store {
                store.record(&MetaEvent::ProducerIds {
                    next: broker.cluster.lock().next_producer_id,
                });
            }
            settle(broker, txn_id.as_deref(), &written);
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
    let result = txn::add_partitions(
        &mut broker.cluster.lock(),
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
    settle(broker, Some(&txn_id), &Vec::new());
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
    let r = txn::add_offsets(
        &mut broker.cluster.lock(),
        &txn_id,
        req.producer_id.0,
        req.producer_epoch,
        req.group_id.0.as_str(),
        Instant::now(),
    );
    settle(broker, Some(&txn_id), &Vec::new());
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
    let result = {
        let mut cluster = broker.cluster.lock();
        let mut groups = broker.groups.lock();
        txn::end_txn(
            &mut cluster,
            &mut groups,
            &txn_id,
            req.producer_id.0,
            req.producer_epoch,
            req.committed,
            now_ms(),
        )
    };
    match result {
        Ok(written) => {
            settle(broker, Some(&txn_id), &written);
            EndTxnResponse::default()
        }
        Err(e) => EndTxnResponse::default().with_error_code(e.code()),
    }
}
