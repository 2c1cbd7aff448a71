//! Request routing: which APIs and versions the broker speaks, and the match from a decoded
//! request to its handler.

use std::panic::AssertUnwindSafe;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use crate::broker::Broker;
use crate::handlers::{
    acls, admin, api_versions, fetch, groups, metadata, offsets, produce, records, txn,
};

/// Per-request facts handlers may need besides the body.
pub struct RequestContext {
    pub version: i16,
    pub client_id: String,
    pub client_host: String,
}

/// `(api, max version we implement)`. Minimums come from `kafka-protocol`. The caps keep
/// clients on name-based (not topic-id) Produce/Fetch and on the classic group protocol.
pub const SUPPORTED: &[(ApiKey, i16)] = &[
    (ApiKey::Produce, 9),
    (ApiKey::Fetch, 12),
    (ApiKey::ListOffsets, 7),
    (ApiKey::Metadata, 12),
    (ApiKey::OffsetCommit, 8),
    (ApiKey::OffsetFetch, 7),
    (ApiKey::FindCoordinator, 4),
    (ApiKey::JoinGroup, 9),
    (ApiKey::Heartbeat, 4),
    (ApiKey::LeaveGroup, 5),
    (ApiKey::SyncGroup, 5),
    (ApiKey::DescribeGroups, 5),
    (ApiKey::ListGroups, 4),
    (ApiKey::ApiVersions, 3),
    (ApiKey::CreateTopics, 7),
    (ApiKey::DeleteTopics, 6),
    (ApiKey::InitProducerId, 4),
    (ApiKey::AddPartitionsToTxn, 3),
    (ApiKey::AddOffsetsToTxn, 3),
    (ApiKey::EndTxn, 3),
    (ApiKey::TxnOffsetCommit, 3),
    (ApiKey::DescribeConfigs, 4),
    (ApiKey::CreatePartitions, 3),
    (ApiKey::DeleteGroups, 2),
    (ApiKey::IncrementalAlterConfigs, 1),
    (ApiKey::AlterConfigs, 2),
    (ApiKey::DeleteRecords, 2),
    (ApiKey::DescribeAcls, 3),
    (ApiKey::CreateAcls, 3),
    (ApiKey::DeleteAcls, 3),
];

/// The version range we accept for `key`, if we implement it at all.
pub fn version_range(key: ApiKey) -> Option<(i16, i16)> {
    let (_, max) = SUPPORTED.iter().find(|(k, _)| *k == key)?;
    Some((key.valid_versions().min, *max))
}

/// Decodes a request body, never panicking on hostile input.
pub fn decode(key: ApiKey, body: &mut Bytes, version: i16) -> anyhow::Result<RequestKind> {
    std::panic::catch_unwind(AssertUnwindSafe(|| RequestKind::decode(key, body, version)))
        .map_err(|_| anyhow::anyhow!("decoder panicked"))?
}

/// Runs one request to completion (fetches and group joins may wait).
pub async fn handle(broker: &Broker, req: RequestKind, ctx: &RequestContext) -> ResponseKind {
    let v = ctx.version;
    match req {
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::answer(&r, v)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::metadata(broker, r, v)),
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(metadata::find_coordinator(broker, r, v))
        }
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(admin::create_topics(broker, r, v))
        }
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(admin::delete_topics(broker, r)),
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(admin::create_partitions(broker, r))
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(admin::describe_configs(broker, r))
        }
        RequestKind::AlterConfigs(r) => {
            ResponseKind::AlterConfigs(admin::alter_configs_legacy(broker, r))
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(admin::alter_configs(broker, r))
        }
        RequestKind::Produce(r) => ResponseKind::Produce(produce::handle(broker, r, v)),
        RequestKind::DeleteRecords(r) => ResponseKind::DeleteRecords(records::delete(broker, r)),
        RequestKind::CreateAcls(r) => ResponseKind::CreateAcls(acls::create(&r)),
        RequestKind::DescribeAcls(r) => ResponseKind::DescribeAcls(acls::describe(&r)),
        RequestKind::DeleteAcls(r) => ResponseKind::DeleteAcls(acls::delete(&r)),
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(broker, r).await),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(fetch::list_offsets(broker, r, v)),
        RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(groups::join(broker, r, ctx).await),
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(groups::sync(broker, r).await),
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(groups::heartbeat(broker, r)),
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(groups::leave(broker, r, v)),
        RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(groups::describe(broker, r)),
        RequestKind::ListGroups(r) => ResponseKind::ListGroups(groups::list(broker, r)),
        RequestKind::DeleteGroups(r) => ResponseKind::DeleteGroups(groups::delete(broker, r)),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(offsets::commit(broker, r)),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(offsets::fetch(broker, r)),
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(txn::init_producer_id(broker, r))
        }
        RequestKind::AddPartitionsToTxn(r) => {
            ResponseKind::AddPartitionsToTxn(txn::add_partitions(broker, r))
        }
        RequestKind::AddOffsetsToTxn(r) => {
            ResponseKind::AddOffsetsToTxn(txn::add_offsets(broker, r))
        }
        RequestKind::TxnOffsetCommit(r) => {
            ResponseKind::TxnOffsetCommit(txn::txn_offset_commit(broker, r))
        }
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(txn::end_txn(broker, r)),
        other => unreachable!(
            "version_range admits only handled APIs, got {:?}",
            std::mem::discriminant(&other)
        ),
    }
}
