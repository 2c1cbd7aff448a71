//! Classic-protocol membership: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the timers
//! (session expiry, rebalance deadline) that `tick` drives.
//!
//! A rebalance: some member (re)joins -> PreparingRebalance; when every known member has sent
//! JoinGroup (or the rebalance timeout passed and the stragglers were dropped) the generation
//! is bumped and everyone is answered, the leader with all members' metadata ->
//! CompletingRebalance; the leader's SyncGroup carries the assignments -> Stable. The state
//! changes themselves are in `rebalance`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use super::protocol::{JoinArgs, JoinReply, Reply, SyncReply};
use super::{Group, GroupState, Groups, Member};

fn new_member_id(client_id: &str) -> String {
    format!("{client_id}-{}", uuid::Uuid::new_v4())
}

impl Groups {
    /// JoinGroup.
    pub fn join(&mut self, a: JoinArgs, now: Instant) -> Reply<JoinReply> {
        let limits = self.limits;
        if a.group_id.is_empty() {
            return Reply::Now(JoinReply::error(
                ResponseError::InvalidGroupId,
                &a.member_id,
            ));
        }
        let session = Duration::from_millis(u64::try_from(a.session_timeout_ms).unwrap_or(0));
        let rebalance = Duration::from_millis(u64::try_from(a.rebalance_timeout_ms).unwrap_or(0));
        if session < limits.min_session_timeout || session > limits.max_session_timeout {
            return Reply::Now(JoinReply::error(
                ResponseError::InvalidSessionTimeout,
                &a.member_id,
            ));
        }
        if a.protocols.is_empty() || a.protocol_type.is_empty() {
            return Reply::Now(JoinReply::error(
                ResponseError::InconsistentGroupProtocol,
                &a.member_id,
            ));
        }
        if !a.member_id.is_empty() && !self.groups.contains_key(&a.group_id) {
            return Reply::Now(JoinReply::error(
                ResponseError::UnknownMemberId,
                &a.member_id,
            ));
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        let group = self
            .groups
            .entry(a.group_id.clone())
            .or_insert_with(|| Group::new(&a.group_id));
        if !group.members.is_empty() {
            let same_type = group.protocol_type.as_deref() == Some(a.protocol_type.as_str());
            let common = a.protocols.iter().any(|(n, _)| {
                group
                    .members
                    .values()
                    .filter(|m| m.id != a.member_id)
                    .all(|m| m.protocols.iter().any(|(mn, _)| mn == n))
            });
            if !same_type || !common {
                return Reply::Now(JoinReply::error(
                    ResponseError::InconsistentGroupProtocol,
                    &a.member_id,
                ));
            }
        }

        let mut member_id = a.member_id.clone();
        if member_id.is_empty() {
            let static_old = a.instance_id.as_ref().and_then(|iid| {
                group
                    .members
                    .values()
                    .find(|m| m.instance_id.as_ref() == Some(iid))
                    .map(|m| m.id.clone())
            });
            member_id = new_member_id(&a.client_id);
            if let Some(old) = static_old {
                // KIP-345: a restarted static member takes over its old identity; the old
                // instance is fenced. A follower in a stable group keeps its assignment.
                let mut m = group.members.remove(&old).expect("found above");
                if let Some(tx) = m.join_waiter.take() {
                    let _ = tx.send(JoinReply::error(ResponseError::FencedInstanceId, &old));
                }
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(SyncReply::error(ResponseError::FencedInstanceId));
                }
                m.id.clone_from(&member_id);
                m.last_seen = now;
                m.session_timeout = session;
                m.rebalance_timeout = rebalance;
                // Kafka rebalances only if the group's protocol would change; the metadata may
                // (a restarted consumer owns no partitions yet) without a rebalance.
                let keeps_protocol = group
                    .protocol
                    .as_ref()
                    .is_some_and(|p| a.protocols.iter().any(|(n, _)| n == p));
                m.protocols.clone_from(&a.protocols);
                let was_leader = group.leader.as_deref() == Some(old.as_str());
                group.members.insert(member_id.clone(), m);
                if was_leader {
                    group.leader = Some(member_id.clone());
                }
                if group.state == GroupState::Stable && keeps_protocol {
                    tracing::info!(group = %a.group_id, generation = group.generation,
                        instance = a.instance_id.as_deref().unwrap_or_default(), leader = was_leader,
                        "static member rejoined a stable group: its assignment is kept, no rebalance");
                    let mut reply = group.reply_for(&member_id);
                    reply.skip_assignment = was_leader;
                    return Reply::Now(reply);
                }
            } else if a.instance_id.is_none() && a.require_known_member_id {
                group.pending_members.insert(member_id.clone(), now);
                return Reply::Now(JoinReply::error(
                    ResponseError::MemberIdRequired,
                    &member_id,
                ));
            }
        } else if let Some(iid) = &a.instance_id
            && group
                .members
                .values()
                .any(|m| m.instance_id.as_ref() == Some(iid) && m.id != member_id)
        {
            return Reply::Now(JoinReply::error(
                ResponseError::FencedInstanceId,
                &member_id,
            ));
        }

        let known = group.members.contains_key(&member_id);
        let pending = group.pending_members.remove(&member_id).is_some();
        if !known && !pending && !a.member_id.is_empty() {
            return Reply::Now(JoinReply::error(ResponseError::UnknownMemberId, &member_id));
        }
        if known {
            let m = group.members.get_mut(&member_id).expect("known");
            let unchanged = m.protocols == a.protocols;
            m.last_seen = now;
            m.session_timeout = session;
            m.rebalance_timeout = rebalance;
            m.protocols.clone_from(&a.protocols);
            let is_leader = group.leader.as_deref() == Some(member_id.as_str());
            let settled = matches!(
                group.state,
                GroupState::Stable | GroupState::CompletingRebalance
            );
            if settled
                && unchanged
                && (!is_leader || group.state == GroupState::CompletingRebalance)
            {
                return Reply::Now(group.reply_for(&member_id));
            }
        } else {
            group.members.insert(
                member_id.clone(),
                Member {
                    id: member_id.clone(),
                    instance_id: a.instance_id.clone(),
                    client_id: a.client_id.clone(),
                    client_host: a.client_host.clone(),
                    session_timeout: session,
                    rebalance_timeout: rebalance,
                    protocols: a.protocols.clone(),
                    assignment: Bytes::new(),
                    last_seen: now,
                    joined_seq: seq,
                    join_waiter: None,
                    sync_waiter: None,
                },
            );
        }
        group.protocol_type = Some(a.protocol_type.clone());
        let (tx, rx) = oneshot::channel();
        group
            .members
            .get_mut(&member_id)
            .expect("present")
            .join_waiter = Some(tx);
        if group.state == GroupState::PreparingRebalance {
            group.extend_initial_delay(now, limits.initial_rebalance_delay);
        } else {
            group.prepare_rebalance(now, limits.initial_rebalance_delay, "member (re)joined");
        }
        group.maybe_complete_join(now);
        Reply::Later(rx)
    }

    /// SyncGroup.
    #[allow(clippy::too_many_arguments)]
    pub fn sync(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        protocol_type: Option<&str>,
        protocol: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Reply<SyncReply> {
        let Some(group) = self.groups.get_mut(group_id) else {
            return Reply::Now(SyncReply::error(ResponseError::UnknownMemberId));
        };
        if let Err(e) = group.check_member(member_id, instance_id, generation) {
            return Reply::Now(SyncReply::error(e));
        }
        if protocol_type.is_some_and(|p| group.protocol_type.as_deref() != Some(p))
            || protocol.is_some_and(|p| group.protocol.as_deref() != Some(p))
        {
            return Reply::Now(SyncReply::error(ResponseError::InconsistentGroupProtocol));
        }
        group.members.get_mut(member_id).expect("checked").last_seen = now;
        let reply = |g: &Group, id: &str| SyncReply {
            error: None,
            protocol_type: g.protocol_type.clone(),
            protocol: g.protocol.clone(),
            assignment: g.members[id].assignment.clone(),
        };
        match group.state {
            GroupState::PreparingRebalance | GroupState::Empty => {
                Reply::Now(SyncReply::error(ResponseError::RebalanceInProgress))
            }
            GroupState::Stable => Reply::Now(reply(group, member_id)),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                group
                    .members
                    .get_mut(member_id)
                    .expect("checked")
                    .sync_waiter = Some(tx);
                if group.leader.as_deref() == Some(member_id) {
                    for (id, assignment) in assignments {
                        if let Some(m) = group.members.get_mut(&id) {
                            m.assignment = assignment;
                        }
                    }
                    group.state = GroupState::Stable;
                    tracing::info!(
                        group = group_id,
                        generation,
                        "assignment received from the leader, stable"
                    );
                    let ids: Vec<String> = group.members.keys().cloned().collect();
                    for id in ids {
                        let r = reply(group, &id);
                        if let Some(tx) = group
                            .members
                            .get_mut(&id)
                            .and_then(|m| m.sync_waiter.take())
                        {
                            let _ = tx.send(r);
                        }
                    }
                }
                Reply::Later(rx)
            }
        }
    }

    /// Heartbeat.
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now: Instant,
    ) -> Result<(), ResponseError> {
        let group = self
            .groups
            .get_mut(group_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if let Some(m) = group.members.get_mut(member_id) {
            m.last_seen = now;
        }
        if group.state == GroupState::PreparingRebalance && group.members.contains_key(member_id) {
            return Err(ResponseError::RebalanceInProgress);
        }
        group.check_member(member_id, instance_id, generation)
    }

    /// LeaveGroup for one member, by member id or (static members) by instance id.
    pub fn leave(
        &mut self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        now: Instant,
    ) -> Result<(), ResponseError> {
        let group = self
            .groups
            .get_mut(group_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        let id = match instance_id {
            Some(iid) => {
                let m = group
                    .members
                    .values()
                    .find(|m| m.instance_id.as_deref() == Some(iid))
                    .ok_or(ResponseError::UnknownMemberId)?;
                if !member_id.is_empty() && m.id != member_id {
                    return Err(ResponseError::FencedInstanceId);
                }
                m.id.clone()
            }
            None if group.members.contains_key(member_id) => member_id.to_owned(),
            None => return Err(ResponseError::UnknownMemberId),
        };
        group.remove_member(&id, now, "left the group");
        Ok(())
    }

    /// Expires silent members and overdue rebalances; called every few hundred ms.
    pub fn tick(&mut self, now: Instant) {
        for group in self.groups.values_mut() {
            group
                .pending_members
                .retain(|_, since| now.duration_since(*since) < Duration::from_mins(5));
            let expired: Vec<String> = group
                .members
                .values()
                .filter(|m| {
                    m.join_waiter.is_none() && now.duration_since(m.last_seen) > m.session_timeout
                })
                .map(|m| m.id.clone())
                .collect();
            for id in expired {
                group.remove_member(&id, now, "session expired");
            }
            if group.state == GroupState::PreparingRebalance
                && group.rebalance_deadline.is_some_and(|d| d <= now)
            {
                group.complete_join(now);
            } else {
                group.maybe_complete_join(now);
            }
        }
    }
}
