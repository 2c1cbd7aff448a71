//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups, ListGroups, DeleteGroups.

use std::time::Instant;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, SyncGroupRequest,
    SyncGroupResponse,
};

use super::{code, code_of, sb};
use crate::broker::Broker;
use crate::dispatch::RequestContext;
use crate::groups::{JoinArgs, JoinReply, Reply, SyncReply};
use crate::storage::MetaEvent;

pub async fn join(
    broker: &Broker,
    req: JoinGroupRequest,
    ctx: &RequestContext,
) -> JoinGroupResponse {
    let args = JoinArgs {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(ToString::to_string),
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host.clone(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout; Kafka uses the session timeout then.
        rebalance_timeout_ms: if ctx.version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: ctx.version >= 4,
    };
    let member_id = args.member_id.clone();
    let reply = broker.groups.lock().join(args, Instant::now());
    let reply = match reply {
        Reply::Now(r) => r,
        Reply::Later(rx) => rx.await.unwrap_or_else(|_| JoinReply {
            error: Some(ResponseError::UnknownMemberId),
            generation: -1,
            member_id,
            ..JoinReply::default()
        }),
    };
    let legacy = ctx.version < 7;
    let skip_assignment = reply.skip_assignment && ctx.version >= 9;
    JoinGroupResponse::default()
        .with_error_code(code(reply.error))
        .with_generation_id(reply.generation)
        .with_protocol_type(reply.protocol_type.map(sb))
        .with_protocol_name(reply.protocol.map(sb).or_else(|| legacy.then(|| sb(""))))
        .with_leader(sb(reply.leader))
        .with_member_id(sb(reply.member_id))
        .with_skip_assignment(skip_assignment)
        .with_members(
            reply
                .members
                .into_iter()
                .map(|(id, iid, meta)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(sb(id))
                        .with_group_instance_id(iid.map(sb))
                        .with_metadata(meta)
                })
                .collect(),
        )
}

pub async fn sync(broker: &Broker, req: SyncGroupRequest) -> SyncGroupResponse {
    let reply = broker.groups.lock().sync(
        req.group_id.0.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
        req.protocol_type.as_deref(),
        req.protocol_name.as_deref(),
        req.assignments
            .iter()
            .map(|a| (a.member_id.to_string(), a.assignment.clone()))
            .collect(),
        Instant::now(),
    );
    let reply = match reply {
        Reply::Now(r) => r,
        Reply::Later(rx) => rx.await.unwrap_or_else(|_| SyncReply {
            error: Some(ResponseError::RebalanceInProgress),
            ..SyncReply::default()
        }),
    };
    SyncGroupResponse::default()
        .with_error_code(code(reply.error))
        .with_protocol_type(reply.protocol_type.map(sb))
        .with_protocol_name(reply.protocol.map(sb))
        .with_assignment(reply.assignment)
}

pub fn heartbeat(broker: &Broker, req: HeartbeatRequest) -> HeartbeatResponse {
    let r = broker.groups.lock().heartbeat(
        req.group_id.0.as_str(),
        req.generation_id,
        req.member_id.as_str(),
        req.group_instance_id.as_deref(),
        Instant::now(),
    );
    HeartbeatResponse::default().with_error_code(code_of(&r))
}

pub fn leave(broker: &Broker, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let mut groups = broker.groups.lock();
    let group = req.group_id.0.as_str();
    let now = Instant::now();
    if version < 3 {
        let r = groups.leave(group, req.member_id.as_str(), None, now);
        return LeaveGroupResponse::default().with_error_code(code_of(&r));
    }
    let members = req
        .members
        .iter()
        .map(|m| {
            let r = groups.leave(
                group,
                m.member_id.as_str(),
                m.group_instance_id.as_deref(),
                now,
            );
            MemberResponse::default()
                .with_member_id(m.member_id.clone())
                .with_group_instance_id(m.group_instance_id.clone())
                .with_error_code(code_of(&r))
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}

pub fn describe(broker: &Broker, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = broker.groups.lock();
    let described = req
        .groups
        .into_iter()
        .map(|id| {
            let d = DescribedGroup::default()
                .with_group_id(id.clone())
                .with_authorized_operations(i32::MIN);
            let Some(g) = groups.groups.get(id.0.as_str()) else {
                return d.with_group_state(sb("Dead"));
            };
            d.with_group_state(sb(g.state.name()))
                .with_protocol_type(sb(g.protocol_type.clone().unwrap_or_default()))
                .with_protocol_data(sb(g.protocol.clone().unwrap_or_default()))
                .with_members(
                    g.members
                        .values()
                        .map(|m| {
                            let meta = m
                                .protocols
                                .iter()
                                .find(|(n, _)| Some(n) == g.protocol.as_ref())
                                .map(|(_, b)| b.clone())
                                .unwrap_or_default();
                            DescribedGroupMember::default()
                                .with_member_id(sb(m.id.clone()))
                                .with_group_instance_id(m.instance_id.clone().map(sb))
                                .with_client_id(sb(m.client_id.clone()))
                                .with_client_host(sb(m.client_host.clone()))
                                .with_member_metadata(meta)
                                .with_member_assignment(m.assignment.clone())
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(described)
}

pub fn list(broker: &Broker, req: ListGroupsRequest) -> ListGroupsResponse {
    let groups = broker.groups.lock();
    let listed = groups
        .groups
        .iter()
        .filter(|(_, g)| {
            req.states_filter.is_empty()
                || req
                    .states_filter
                    .iter()
                    .any(|s| s.as_str().eq_ignore_ascii_case(g.state.name()))
        })
        .map(|(id, g)| {
            ListedGroup::default()
                .with_group_id(GroupId(sb(id.clone())))
                .with_protocol_type(sb(g
                    .protocol_type
                    .clone()
                    .unwrap_or_else(|| "consumer".into())))
                .with_group_state(sb(g.state.name()))
                .with_group_type(sb("classic"))
        })
        .collect();
    ListGroupsResponse::default().with_groups(listed)
}

pub fn delete(broker: &Broker, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut groups = broker.groups.lock();
    let results = req
        .groups_names
        .into_iter()
        .map(|id| {
            let r = groups.delete(id.0.as_str());
            if r.is_ok()
                && let Some(store) = &broker.store
            {
                store.record(&MetaEvent::GroupDeleted {
                    group: id.0.to_string(),
                });
            }
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code_of(&r))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
