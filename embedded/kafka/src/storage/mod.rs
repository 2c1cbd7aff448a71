//! Durable storage under a data directory.
//!
//! ```text
//! <data-dir>/meta.jsonl                      coordinator journal (topics, offsets, txns)
//! <data-dir>/log/<topic>-<p>/<base>.log      segments: record batches exactly as stored
//! ```
//!
//! Segments use Kafka's on-disk batch format, so recovery is a scan: each batch's CRC is
//! checked and a torn tail is truncated. The journal is replayed at start and rewritten as a
//! snapshot so it stays small. Everything also lives in memory; disk is for restarts.

mod journal;
mod segments;

use std::path::{Path, PathBuf};

use parking_lot::Mutex;

pub use journal::MetaEvent;

use crate::batch::Batch;
use crate::cluster::Cluster;
use crate::config::FsyncPolicy;
use crate::groups::{GroupLimits, Groups};
use crate::log::segment::Roll;
use crate::txn::TxnMeta;

/// Handle the broker writes through; all methods are safe to call under the broker lock.
pub struct Store {
    dir: PathBuf,
    fsync: FsyncPolicy,
    journal: Mutex<journal::Journal>,
    segments: Mutex<segments::Segments>,
}

impl Store {
    /// Opens (or creates) a data directory and rebuilds the broker state it holds.
    pub fn open(
        dir: &Path,
        fsync: FsyncPolicy,
        limits: GroupLimits,
    ) -> anyhow::Result<(Self, Cluster, Groups)> {
        std::fs::create_dir_all(dir.join("log"))?;
        let mut cluster = Cluster::default();
        let mut groups = Groups::new(limits);
        let replayed = journal::replay(&dir.join("meta.jsonl"), &mut cluster, &mut groups)?;
        let mut segments = segments::Segments::new(dir.join("log"), fsync);
        let log_starts = replayed.log_starts;
        for (name, topic) in &mut cluster.topics {
            for (p, log) in topic.partitions.iter_mut().enumerate() {
                let start = log_starts
                    .get(&(name.clone(), p as i32))
                    .copied()
                    .unwrap_or(0);
                segments.recover(name, p as i32, start, Roll::of(&topic.config), log)?;
            }
            segments.set_roll_bytes(name, topic.config.segment_bytes());
        }
        let store = Self {
            dir: dir.to_owned(),
            fsync,
            journal: Mutex::new(journal::Journal::open(&dir.join("meta.jsonl"), fsync)?),
            segments: Mutex::new(segments),
        };
        let repaired = journal::repair_markers(&mut cluster);
        store.persist_batches(&repaired)?;
        store
            .journal
            .lock()
            .snapshot(&cluster, &groups, &log_starts)?;
        tracing::info!(dir = %dir.display(), topics = cluster.topics.len(), "data directory recovered");
        Ok((store, cluster, groups))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one coordinator event; failures are logged (the in-memory state stays right
    /// for this run, and the journal is rewritten whole at the next start).
    pub fn record(&self, event: &MetaEvent) {
        match event {
            MetaEvent::TopicCreated { name, config, .. }
            | MetaEvent::TopicConfig { name, config } => {
                self.segments
                    .lock()
                    .set_roll_bytes(name, config.segment_bytes());
            }
            _ => {}
        }
        if let Err(e) = self.journal.lock().append(event) {
            tracing::error!(error = %e, "failed to write coordinator journal");
        }
    }

    pub fn record_txn(&self, id: &str, meta: &TxnMeta) {
        self.record(&MetaEvent::txn(id, meta));
    }

    /// Appends batches to their partitions' active segments (and fsyncs per policy).
    pub fn persist_batches(&self, written: &[(String, i32, Batch)]) -> std::io::Result<()> {
        if written.is_empty() {
            return Ok(());
        }
        self.segments.lock().append_all(written)
    }

    /// Replaces a partition's files with `batches` (after compaction).
    pub fn rewrite_partition<'a>(
        &self,
        topic: &str,
        partition: i32,
        batches: impl Iterator<Item = &'a Batch>,
    ) -> std::io::Result<()> {
        self.segments.lock().rewrite(topic, partition, batches)
    }

    /// Records a new log start offset and deletes segments wholly below it.
    pub fn truncate_front(&self, topic: &str, partition: i32, log_start: i64) {
        self.record(&MetaEvent::LogStart {
            topic: topic.to_owned(),
            partition,
            offset: log_start,
        });
        if let Err(e) = self
            .segments
            .lock()
            .delete_below(topic, partition, log_start)
        {
            tracing::error!(error = %e, topic, partition, "failed to delete old segments");
        }
    }

    pub fn delete_topic(&self, topic: &str, partitions: usize) {
        if let Err(e) = self.segments.lock().delete_topic(topic, partitions) {
            tracing::error!(error = %e, topic, "failed to delete topic files");
        }
    }

    pub fn fsync_policy(&self) -> FsyncPolicy {
        self.fsync
    }
}
