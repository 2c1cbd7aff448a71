//! OffsetCommit and OffsetFetch (single-group form, v1–v7).

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};

use super::{sb, topic_name};
use crate::broker::Broker;
use crate::cluster::Cluster;
use crate::groups::{Committed, Tp};
use crate::storage::MetaEvent;

/// Kafka's `offset.metadata.max.bytes`.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Splits requested offsets into valid ones and per-partition errors.
pub fn screen(
    cluster: &Cluster,
    items: impl Iterator<Item = (String, i32, i64, i32, Option<String>)>,
) -> (Vec<(Tp, Committed)>, BTreeMap<Tp, ResponseError>) {
    let mut ok = Vec::new();
    let mut errors = BTreeMap::new();
    for (topic, p, offset, leader_epoch, metadata) in items {
        let tp = (topic, p);
        if cluster.partition(&tp.0, p).is_none() {
            errors.insert(tp, ResponseError::UnknownTopicOrPartition);
        } else if metadata
            .as_ref()
            .is_some_and(|m| m.len() > MAX_METADATA_BYTES)
        {
            errors.insert(tp, ResponseError::OffsetMetadataTooLarge);
        } else {
            ok.push((
                tp,
                Committed {
                    offset,
                    leader_epoch,
                    metadata,
                },
            ));
        }
    }
    (ok, errors)
}

pub fn commit(broker: &Broker, req: OffsetCommitRequest) -> OffsetCommitResponse {
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
    let (ok, mut errors) = screen(&cluster, items);
    let mut groups = broker.groups.lock();
    let result = groups.commit(
        &group,
        req.generation_id_or_member_epoch,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
        ok.clone(),
    );
    match result {
        Ok(()) => {
            if let Some(store) = &broker.store {
                store.record(&MetaEvent::Offsets {
                    group: group.clone(),
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
    drop(groups);
    drop(cluster);
    let topics = req
        .topics
        .iter()
        .map(|t| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let e = errors
                                .get(&(t.name.0.to_string(), p.partition_index))
                                .copied();
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(super::code(e))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

pub fn fetch(broker: &Broker, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let group = req.group_id.0.as_str();
    let groups = broker.groups.lock();
    let wanted: Vec<(String, Vec<i32>)> = if let Some(ts) = &req.topics {
        ts.iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    } else {
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in groups.committed_partitions(group) {
            by_topic.entry(t).or_default().push(p);
        }
        by_topic.into_iter().collect()
    };
    let topics = wanted
        .into_iter()
        .map(|(topic, parts)| {
            let partitions = parts
                .into_iter()
                .map(|p| {
                    let r = OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_committed_leader_epoch(-1);
                    match groups.fetch_offset(group, &(topic.clone(), p), req.require_stable) {
                        Ok(Some(c)) => r
                            .with_committed_offset(c.offset)
                            .with_committed_leader_epoch(c.leader_epoch)
                            .with_metadata(Some(sb(c.metadata.unwrap_or_default()))),
                        Ok(None) => r.with_committed_offset(-1).with_metadata(Some(sb(""))),
                        Err(e) => r
                            .with_committed_offset(-1)
                            .with_error_code(e.code())
                            .with_metadata(Some(sb(""))),
                    }
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
