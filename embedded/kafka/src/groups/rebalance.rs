//! A group's rebalance mechanics, driven by the requests in `membership`: entering
//! PreparingRebalance, ending the join phase (stragglers dropped, generation bumped, everyone
//! answered, the leader with all members' metadata), choosing the protocol, removing members.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;

use super::protocol::{JoinReply, SyncReply};
use super::{Group, GroupState};

/// The least time a first rebalance (of an empty group) waits for more members, even with
/// `group.initial.rebalance.delay.ms=0`: Kafka completes that join on its coordinator's event loop
/// after appending the group's record, so consumers started together land in one generation
/// there; completing inside the first JoinGroup split them into two (librdkafka's 0102).
const INITIAL_JOIN_SETTLE: Duration = Duration::from_millis(100);

impl Group {
    pub(super) fn reply_for(&self, member_id: &str) -> JoinReply {
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            let proto = self.protocol.as_deref().unwrap_or_default();
            self.members
                .values()
                .map(|m| {
                    let meta = m
                        .protocols
                        .iter()
                        .find(|(n, _)| n == proto)
                        .map(|(_, b)| b.clone())
                        .unwrap_or_default();
                    (m.id.clone(), m.instance_id.clone(), meta)
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinReply {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol: self.protocol.clone(),
            leader,
            member_id: member_id.to_owned(),
            members,
            skip_assignment: false,
        }
    }

    /// A member that joins during a first rebalance's delay extends it by the delay again, up
    /// to the rebalance deadline (Kafka's `InitialDelayedJoin`), so members starting together
    /// share the first generation.
    pub(super) fn extend_initial_delay(&mut self, now: Instant, initial_delay: Duration) {
        if let (Some(until), Some(deadline)) = (self.initial_delay_until, self.rebalance_deadline) {
            let next = now + initial_delay.max(INITIAL_JOIN_SETTLE);
            self.initial_delay_until = Some(until.max(next.min(deadline)));
        }
    }

    pub(super) fn prepare_rebalance(
        &mut self,
        now: Instant,
        initial_delay: Duration,
        reason: &str,
    ) {
        tracing::info!(
            group = %self.id,
            state = self.state.name(),
            generation = self.generation,
            reason,
            "preparing to rebalance"
        );
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                if let Some(tx) = m.sync_waiter.take() {
                    let _ = tx.send(SyncReply::error(ResponseError::RebalanceInProgress));
                }
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.initial_delay_until = (self.state == GroupState::Empty)
            .then(|| now + initial_delay.max(INITIAL_JOIN_SETTLE).min(timeout));
        self.state = GroupState::PreparingRebalance;
        self.rebalance_deadline = Some(now + timeout);
    }

    pub(super) fn all_joined(&self) -> bool {
        self.members.values().all(|m| m.join_waiter.is_some())
    }

    /// Picks the protocol every member supports, by the members' first preferences.
    pub(super) fn choose_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let supported = |name: &str| {
            self.members
                .values()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        };
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| supported(n))
            .collect();
        candidates
            .iter()
            .max_by_key(|c| {
                let votes = self
                    .members
                    .values()
                    .filter(|m| {
                        m.protocols
                            .iter()
                            .find(|(n, _)| supported(n))
                            .is_some_and(|(n, _)| n == *c)
                    })
                    .count();
                (
                    votes,
                    std::cmp::Reverse(candidates.iter().position(|x| x == *c)),
                )
            })
            .map(|c| (*c).to_owned())
    }

    /// Ends the join phase: drops members that did not rejoin, bumps the generation, answers.
    pub(super) fn complete_join(&mut self, now: Instant) {
        let group = &self.id;
        self.members.retain(|id, m| {
            let rejoined = m.join_waiter.is_some();
            if !rejoined {
                tracing::info!(%group, member = %id, "member did not rejoin in time, removed");
            }
            rejoined
        });
        self.rebalance_deadline = None;
        self.initial_delay_until = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            self.protocol = None;
            return;
        }
        self.protocol = self.choose_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self
                .members
                .values()
                .min_by_key(|m| m.joined_seq)
                .map(|m| m.id.clone());
        }
        self.state = GroupState::CompletingRebalance;
        tracing::info!(
            group = %self.id,
            generation = self.generation,
            members = self.members.len(),
            leader = ?self.leader,
            "join phase complete, awaiting the leader's assignment"
        );
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let reply = self.reply_for(&id);
            let m = self.members.get_mut(&id).expect("member exists");
            m.last_seen = now;
            m.assignment = Bytes::new();
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(reply);
            }
        }
    }

    pub(super) fn maybe_complete_join(&mut self, now: Instant) {
        let delay_over = self.initial_delay_until.is_none_or(|d| d <= now);
        if self.state == GroupState::PreparingRebalance && self.all_joined() && delay_over {
            self.complete_join(now);
        }
    }

    /// Removes a member; rebalances the rest or empties the group.
    pub(super) fn remove_member(&mut self, member_id: &str, now: Instant, reason: &str) {
        if self.members.remove(member_id).is_none() {
            return;
        }
        tracing::info!(
            group = %self.id,
            member = member_id,
            state = self.state.name(),
            reason,
            "member removed"
        );
        if self.members.is_empty() {
            if self.state != GroupState::Empty {
                self.generation += 1;
            }
            self.state = GroupState::Empty;
            self.leader = None;
            self.protocol = None;
            self.rebalance_deadline = None;
            return;
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, Duration::ZERO, reason);
                self.maybe_complete_join(now);
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now),
            GroupState::Empty => {}
        }
    }
}
