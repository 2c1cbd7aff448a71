//! The coordinator journal: one JSON event per line (topics, committed and staged offsets,
//! transaction states, producer id high-water mark). Kafka keeps the same facts in its
//! metadata log, `__consumer_offsets` and `__transaction_state`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::batch::Marker;
use crate::broker::now_ms;
use crate::cluster::{Cluster, Topic};
use crate::config::FsyncPolicy;
use crate::groups::{Committed, Groups, Tp};
use crate::log::config::TopicConfig;
use crate::log::partition::PartitionLog;
use crate::txn::{TxnMeta, TxnState, Written};

/// One durable coordinator fact.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MetaEvent {
    TopicCreated {
        name: String,
        id: Uuid,
        partitions: i32,
        config: TopicConfig,
    },
    TopicDeleted {
        name: String,
    },
    TopicConfig {
        name: String,
        config: TopicConfig,
    },
    PartitionsAdded {
        name: String,
        count: i32,
    },
    LogStart {
        topic: String,
        partition: i32,
        offset: i64,
    },
    Offsets {
        group: String,
        offsets: Vec<(Tp, Committed)>,
    },
    TxnOffsets {
        group: String,
        producer_id: i64,
        offsets: Vec<(Tp, Committed)>,
    },
    GroupDeleted {
        group: String,
    },
    ProducerIds {
        next: i64,
    },
    Txn {
        id: String,
        producer_id: i64,
        epoch: i16,
        timeout_ms: i32,
        state: TxnState,
        partitions: Vec<(String, i32)>,
        groups: Vec<String>,
        last_outcome: Option<bool>,
    },
}

impl MetaEvent {
    pub fn txn(id: &str, m: &TxnMeta) -> Self {
        Self::Txn {
            id: id.to_owned(),
            producer_id: m.producer_id,
            epoch: m.epoch,
            timeout_ms: m.timeout_ms,
            state: m.state,
            partitions: m.partitions.iter().cloned().collect(),
            groups: m.groups.iter().cloned().collect(),
            last_outcome: m.last_outcome,
        }
    }
}

/// What replay learned besides cluster and group state.
#[derive(Debug, Default)]
pub struct Replayed {
    pub log_starts: HashMap<(String, i32), i64>,
}

fn apply(e: MetaEvent, cluster: &mut Cluster, groups: &mut Groups, out: &mut Replayed) {
    match e {
        MetaEvent::TopicCreated {
            name,
            id,
            partitions,
            config,
        } => {
            cluster.topics.insert(
                name,
                Topic {
                    id,
                    config,
                    partitions: (0..partitions).map(|_| PartitionLog::default()).collect(),
                },
            );
        }
        MetaEvent::TopicDeleted { name } => {
            cluster.topics.remove(&name);
            groups.forget_topic(&name);
            out.log_starts.retain(|(t, _), _| *t != name);
        }
        MetaEvent::TopicConfig { name, config } => {
            if let Some(t) = cluster.topics.get_mut(&name) {
                t.config = config;
            }
        }
        MetaEvent::PartitionsAdded { name, count } => {
            if let Some(t) = cluster.topics.get_mut(&name) {
                t.partitions
                    .resize_with(count as usize, PartitionLog::default);
            }
        }
        MetaEvent::LogStart {
            topic,
            partition,
            offset,
        } => {
            out.log_starts.insert((topic, partition), offset);
        }
        MetaEvent::Offsets { group, offsets } => {
            for (tp, c) in offsets {
                groups.restore_offset(&group, tp, c);
            }
        }
        MetaEvent::TxnOffsets {
            group,
            producer_id,
            offsets,
        } => {
            groups.restore_offset_staged(&group, producer_id, offsets);
        }
        MetaEvent::GroupDeleted { group } => {
            groups.groups.remove(&group);
        }
        MetaEvent::ProducerIds { next } => {
            cluster.next_producer_id = cluster.next_producer_id.max(next);
        }
        MetaEvent::Txn {
            id,
            producer_id,
            epoch,
            timeout_ms,
            state,
            partitions,
            groups: txn_groups,
            last_outcome,
        } => {
            if state == TxnState::Empty {
                // No transaction is open, so whatever this producer staged was settled.
                let commit = last_outcome == Some(true);
                for g in groups.staged_by(producer_id) {
                    groups.complete_txn(&g, producer_id, commit);
                }
            }
            cluster.next_producer_id = cluster.next_producer_id.max(producer_id + 1);
            cluster.txns.insert(
                id,
                TxnMeta {
                    producer_id,
                    epoch,
                    timeout_ms,
                    state,
                    partitions: partitions.into_iter().collect::<BTreeSet<_>>(),
                    groups: txn_groups.into_iter().collect(),
                    // The timeout restarts: a transaction open across a restart gets its full
                    // time again, then is aborted.
                    started: (state == TxnState::Ongoing).then(std::time::Instant::now),
                    last_outcome,
                },
            );
        }
    }
}

/// Replays the journal into fresh state. A torn last line (crash mid-write) ends the replay.
pub fn replay(path: &Path, cluster: &mut Cluster, groups: &mut Groups) -> anyhow::Result<Replayed> {
    let mut out = Replayed::default();
    let Ok(file) = File::open(path) else {
        return Ok(out);
    };
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<MetaEvent>(&line) {
            Ok(e) => apply(e, cluster, groups, &mut out),
            Err(e) => {
                tracing::warn!(line = n + 1, error = %e, "ignoring torn journal tail");
                break;
            }
        }
    }
    Ok(out)
}

/// Closes transactions the log shows open but the coordinator does not (a crash between
/// journaling an outcome and writing its markers): commit where the journal says committed,
/// abort otherwise. Transactions the coordinator still has open are left to finish or time out.
pub fn repair_markers(cluster: &mut Cluster) -> Written {
    let coordinator: HashMap<i64, &TxnMeta> =
        cluster.txns.values().map(|m| (m.producer_id, m)).collect();
    let mut fixes = Vec::new();
    for (name, topic) in &cluster.topics {
        for (p, log) in topic.partitions.iter().enumerate() {
            for (pid, epoch) in log.open_transactions() {
                let meta = coordinator.get(&pid);
                if meta.is_some_and(|m| m.state == TxnState::Ongoing) {
                    continue;
                }
                let commit = meta.is_some_and(|m| m.last_outcome == Some(true));
                let epoch = meta.map_or(epoch, |m| m.epoch.max(epoch));
                fixes.push((name.clone(), p as i32, pid, epoch, commit));
            }
        }
    }
    let mut written = Vec::new();
    for (name, p, pid, epoch, commit) in fixes {
        let marker = if commit {
            Marker::Commit
        } else {
            Marker::Abort
        };
        tracing::warn!(topic = %name, partition = p, producer_id = pid, ?marker, "writing missing transaction marker");
        let at = cluster.append_at(&name, now_ms());
        let log = cluster.partition_mut(&name, p).expect("listed above");
        written.push((name, p, log.append_marker(pid, epoch, marker, at)));
    }
    written
}

/// Append handle on the journal file.
pub struct Journal {
    path: PathBuf,
    file: File,
    fsync: FsyncPolicy,
}

impl Journal {
    pub fn open(path: &Path, fsync: FsyncPolicy) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            path: path.to_owned(),
            file,
            fsync,
        })
    }

    pub fn append(&mut self, e: &MetaEvent) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        if self.fsync == FsyncPolicy::Always {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Rewrites the journal as the minimal event list that rebuilds the current state.
    pub fn snapshot(
        &mut self,
        cluster: &Cluster,
        groups: &Groups,
        log_starts: &HashMap<(String, i32), i64>,
    ) -> std::io::Result<()> {
        let mut events = vec![MetaEvent::ProducerIds {
            next: cluster.next_producer_id,
        }];
        for (name, t) in &cluster.topics {
            events.push(MetaEvent::TopicCreated {
                name: name.clone(),
                id: t.id,
                partitions: t.partitions.len() as i32,
                config: t.config.clone(),
            });
        }
        let starts: BTreeMap<_, _> = log_starts.iter().collect();
        for ((topic, partition), offset) in starts {
            if cluster.topics.contains_key(topic) {
                events.push(MetaEvent::LogStart {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: *offset,
                });
            }
        }
        for (id, g) in &groups.groups {
            if !g.offsets.is_empty() {
                events.push(MetaEvent::Offsets {
                    group: id.clone(),
                    offsets: g
                        .offsets
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                });
            }
            for (pid, staged) in &g.pending_txn {
                events.push(MetaEvent::TxnOffsets {
                    group: id.clone(),
                    producer_id: *pid,
                    offsets: staged.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                });
            }
        }
        for (id, m) in &cluster.txns {
            events.push(MetaEvent::txn(id, m));
        }
        let tmp = self.path.with_extension("jsonl.tmp");
        {
            let mut f = File::create(&tmp)?;
            for e in &events {
                let mut line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
                line.push(b'\n');
                f.write_all(&line)?;
            }
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::partition::tests::{at0, batch};
    use std::collections::BTreeSet;

    fn cluster_with_open_txn(pid: i64) -> Cluster {
        let mut c = Cluster::default();
        c.create_topic("t", 1, 1, TopicConfig::default()).unwrap();
        c.partition_mut("t", 0)
            .unwrap()
            .append(&batch(pid, 0, 0, true, 2), at0())
            .unwrap();
        c
    }

    fn meta(pid: i64, state: TxnState, outcome: Option<bool>) -> TxnMeta {
        TxnMeta {
            producer_id: pid,
            epoch: 0,
            timeout_ms: 60_000,
            state,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            started: None,
            last_outcome: outcome,
        }
    }

    #[test]
    fn repair_commits_journaled_commits_and_aborts_orphans() {
        let mut committed = cluster_with_open_txn(3);
        committed
            .txns
            .insert("a".into(), meta(3, TxnState::Empty, Some(true)));
        let w = repair_markers(&mut committed);
        assert_eq!(w.len(), 1);
        assert_eq!(crate::batch::marker_of(&w[0].2), Some(Marker::Commit));
        assert!(committed.partition("t", 0).unwrap().aborted().is_empty());

        let mut orphan = cluster_with_open_txn(4);
        let w = repair_markers(&mut orphan);
        assert_eq!(crate::batch::marker_of(&w[0].2), Some(Marker::Abort));
        assert_eq!(orphan.partition("t", 0).unwrap().last_stable_offset(), 3);

        let mut ongoing = cluster_with_open_txn(5);
        ongoing
            .txns
            .insert("b".into(), meta(5, TxnState::Ongoing, None));
        assert!(
            repair_markers(&mut ongoing).is_empty(),
            "an open transaction is left to finish"
        );
    }
}
