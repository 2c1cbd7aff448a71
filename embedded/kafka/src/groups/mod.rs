//! The group coordinator (classic protocol): the membership requests live in `membership`,
//! the rebalance state changes they drive in `rebalance`, committed offsets (plain and
//! transactional) here.
//!
//! The broker never computes assignments: the leader's SyncGroup carries them and they are
//! relayed as-is, exactly as Kafka does for client-side assignors.

mod membership;
mod protocol;
mod rebalance;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

pub use protocol::{JoinArgs, JoinReply, Reply, SyncReply};

/// Topic-partition key used for offsets.
pub type Tp = (String, i32);

/// One committed offset as clients see it in OffsetFetch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Committed {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// Group lifecycle, named as DescribeGroups reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
        }
    }
}

/// One member of a group.
#[derive(Debug)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_seen: Instant,
    /// Order of first join; the longest-standing member becomes leader when one is needed.
    pub joined_seq: u64,
    join_waiter: Option<oneshot::Sender<JoinReply>>,
    sync_waiter: Option<oneshot::Sender<SyncReply>>,
}

/// One consumer group.
#[derive(Debug)]
pub struct Group {
    /// The group id, for the coordinator's log lines.
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, awaiting the client's rejoin.
    pending_members: HashMap<String, Instant>,
    rebalance_deadline: Option<Instant>,
    /// While set, the first rebalance of an empty group waits for more joiners
    /// (`group.initial.rebalance.delay.ms`).
    initial_delay_until: Option<Instant>,
    pub offsets: BTreeMap<Tp, Committed>,
    /// Offsets sent in a still-open transaction, per producer id.
    pub pending_txn: HashMap<i64, BTreeMap<Tp, Committed>>,
}

impl Group {
    fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending_members: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            offsets: BTreeMap::new(),
            pending_txn: HashMap::new(),
        }
    }

    /// Checks that a member may act in the current generation (commits, heartbeats, syncs).
    fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        if let Some(iid) = instance_id
            && let Some(m) = self
                .members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(iid))
            && m.id != member_id
        {
            return Err(ResponseError::FencedInstanceId);
        }
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }
}

/// Group coordinator settings (Kafka's `group.*` broker configs).
#[derive(Debug, Clone, Copy)]
pub struct GroupLimits {
    pub min_session_timeout: Duration,
    pub max_session_timeout: Duration,
    pub initial_rebalance_delay: Duration,
}

/// Every group this broker coordinates.
#[derive(Debug)]
pub struct Groups {
    pub groups: HashMap<String, Group>,
    limits: GroupLimits,
    next_seq: u64,
}

impl Groups {
    pub fn new(limits: GroupLimits) -> Self {
        Self {
            groups: HashMap::new(),
            limits,
            next_seq: 0,
        }
    }

    /// Commits offsets outside a transaction (OffsetCommit).
    pub fn commit(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<(Tp, Committed)>,
    ) -> Result<(), ResponseError> {
        let group = self.checked_for_commit(group_id, generation, member_id, instance_id)?;
        if group.state == GroupState::CompletingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        group.offsets.extend(offsets);
        Ok(())
    }

    /// Stages offsets in a transaction (TxnOffsetCommit); they appear only on commit.
    pub fn txn_commit(
        &mut self,
        group_id: &str,
        producer_id: i64,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<(Tp, Committed)>,
    ) -> Result<(), ResponseError> {
        // A transactional commit without group metadata (generation -1, no member) is allowed
        // whatever the membership, as in Kafka (producer-only `sendOffsetsToTransaction`).
        let unfenced = generation < 0 && member_id.is_empty() && instance_id.is_none();
        let group = if unfenced {
            if group_id.is_empty() {
                return Err(ResponseError::InvalidGroupId);
            }
            self.groups
                .entry(group_id.to_owned())
                .or_insert_with(|| Group::new(group_id))
        } else {
            self.checked_for_commit(group_id, generation, member_id, instance_id)?
        };
        group
            .pending_txn
            .entry(producer_id)
            .or_default()
            .extend(offsets);
        Ok(())
    }

    /// Applies (commit) or drops (abort) a producer's staged offsets (EndTxn).
    pub fn complete_txn(&mut self, group_id: &str, producer_id: i64, commit: bool) {
        if let Some(group) = self.groups.get_mut(group_id)
            && let Some(staged) = group.pending_txn.remove(&producer_id)
            && commit
        {
            group.offsets.extend(staged);
        }
    }

    /// Generation -1 with no member id is a "simple" commit, allowed only for a group with no
    /// members; otherwise the member and generation must be current (KIP-447 fencing).
    fn checked_for_commit(
        &mut self,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<&mut Group, ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let group = self
            .groups
            .entry(group_id.to_owned())
            .or_insert_with(|| Group::new(group_id));
        if generation < 0 && member_id.is_empty() {
            if group.members.is_empty() {
                return Ok(group);
            }
            return Err(ResponseError::UnknownMemberId);
        }
        group.check_member(member_id, instance_id, generation)?;
        Ok(group)
    }

    /// Committed offset for one partition, honouring KIP-447's `require_stable`.
    pub fn fetch_offset(
        &self,
        group_id: &str,
        tp: &Tp,
        require_stable: bool,
    ) -> Result<Option<Committed>, ResponseError> {
        let Some(group) = self.groups.get(group_id) else {
            return Ok(None);
        };
        if require_stable && group.pending_txn.values().any(|p| p.contains_key(tp)) {
            return Err(ResponseError::UnstableOffsetCommit);
        }
        Ok(group.offsets.get(tp).cloned())
    }

    /// Every partition with a committed offset in the group (OffsetFetch with null topics).
    pub fn committed_partitions(&self, group_id: &str) -> Vec<Tp> {
        self.groups
            .get(group_id)
            .map(|g| g.offsets.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Deletes an empty group and its offsets.
    pub fn delete(&mut self, group_id: &str) -> Result<(), ResponseError> {
        match self.groups.get(group_id) {
            None => Err(ResponseError::GroupIdNotFound),
            Some(g) if !g.members.is_empty() => Err(ResponseError::NonEmptyGroup),
            Some(_) => {
                self.groups.remove(group_id);
                Ok(())
            }
        }
    }

    /// Drops committed offsets of a deleted topic from every group.
    pub fn forget_topic(&mut self, topic: &str) {
        for g in self.groups.values_mut() {
            g.offsets.retain(|(t, _), _| t != topic);
            for staged in g.pending_txn.values_mut() {
                staged.retain(|(t, _), _| t != topic);
            }
        }
    }

    /// Restores a committed offset from the journal at start-up.
    pub fn restore_offset(&mut self, group_id: &str, tp: Tp, committed: Committed) {
        self.groups
            .entry(group_id.to_owned())
            .or_insert_with(|| Group::new(group_id))
            .offsets
            .insert(tp, committed);
    }

    /// Restores offsets staged in a transaction from the journal at start-up.
    pub fn restore_offset_staged(
        &mut self,
        group_id: &str,
        producer_id: i64,
        offsets: Vec<(Tp, Committed)>,
    ) {
        self.groups
            .entry(group_id.to_owned())
            .or_insert_with(|| Group::new(group_id))
            .pending_txn
            .entry(producer_id)
            .or_default()
            .extend(offsets);
    }

    /// Group ids with the set of partitions they still hold staged offsets for.
    pub fn staged_by(&self, producer_id: i64) -> HashSet<String> {
        self.groups
            .iter()
            .filter(|(_, g)| g.pending_txn.contains_key(&producer_id))
            .map(|(id, _)| id.clone())
            .collect()
    }
}
