//! Partition segment files: append, roll, recover, rewrite (compaction), delete (retention).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;

use crate::batch::{Batch, LOG_OVERHEAD};
use crate::config::FsyncPolicy;
use crate::log::partition::PartitionLog;
use crate::log::segment::Roll;

/// Roll size when a topic has not said otherwise (Kafka's `log.segment.bytes` is 1 GiB;
/// smaller here so retention frees disk sooner on a laptop).
const DEFAULT_ROLL_BYTES: u64 = 64 * 1024 * 1024;

struct Active {
    file: File,
    size: u64,
}

/// Every partition's segment files under `<data-dir>/log`.
pub struct Segments {
    root: PathBuf,
    fsync: FsyncPolicy,
    active: HashMap<(String, i32), Active>,
    roll_bytes: HashMap<String, u64>,
}

fn swap_path(dir: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = dir
        .file_name()
        .expect("partition dir has a name")
        .to_os_string();
    name.push(format!(".{suffix}"));
    dir.with_file_name(name)
}

/// Completes or rolls back a compaction swap interrupted by a crash.
fn settle_swap(dir: &std::path::Path) -> std::io::Result<()> {
    let (cleaned, deleted) = (swap_path(dir, "cleaned"), swap_path(dir, "deleted"));
    if !dir.exists() && cleaned.exists() && deleted.exists() {
        // Crashed between the two renames: the cleaned copy is complete.
        fs::rename(&cleaned, dir)?;
    } else if !dir.exists() && deleted.exists() {
        fs::rename(&deleted, dir)?;
    }
    if cleaned.exists() {
        fs::remove_dir_all(&cleaned)?;
    }
    if deleted.exists() {
        fs::remove_dir_all(&deleted)?;
    }
    Ok(())
}

fn segment_name(base: i64) -> String {
    format!("{base:020}.log")
}

impl Segments {
    pub fn new(root: PathBuf, fsync: FsyncPolicy) -> Self {
        Self {
            root,
            fsync,
            active: HashMap::new(),
            roll_bytes: HashMap::new(),
        }
    }

    fn dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.root.join(format!("{topic}-{partition}"))
    }

    /// Segment files of a partition, sorted by base offset.
    fn list(&self, topic: &str, partition: i32) -> std::io::Result<Vec<(i64, PathBuf)>> {
        let dir = self.dir(topic, partition);
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(&dir) else {
            return Ok(out);
        };
        for entry in entries {
            let path = entry?.path();
            let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".log"))
            else {
                continue;
            };
            if let Ok(base) = stem.parse::<i64>() {
                out.push((base, path));
            }
        }
        out.sort();
        Ok(out)
    }

    pub fn set_roll_bytes(&mut self, topic: &str, bytes: u64) {
        self.roll_bytes.insert(topic.to_owned(), bytes);
    }

    /// Loads a partition from disk into `log`, truncating a corrupt or torn tail. Each batch
    /// counts as written when its file was last modified, which is what Kafka's time retention
    /// uses for records without a timestamp.
    pub fn recover(
        &mut self,
        topic: &str,
        partition: i32,
        log_start: i64,
        roll: Roll,
        log: &mut PartitionLog,
    ) -> std::io::Result<()> {
        settle_swap(&self.dir(topic, partition))?;
        let files = self.list(topic, partition)?;
        let mut broken = false;
        for (_, path) in &files {
            if broken {
                tracing::warn!(path = %path.display(), "removing segment after a corrupt one");
                fs::remove_file(path)?;
                continue;
            }
            let written_ms = fs::metadata(path)?
                .modified()?
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let data = Bytes::from(fs::read(path)?);
            let mut pos = 0usize;
            while pos < data.len() {
                let parsed = (data.len() - pos >= LOG_OVERHEAD)
                    .then(|| {
                        i32::from_be_bytes(data[pos + 8..pos + 12].try_into().expect("4 bytes"))
                    })
                    .filter(|len| *len >= 0 && pos + LOG_OVERHEAD + *len as usize <= data.len())
                    .and_then(|len| {
                        Batch::parse(data.slice(pos..pos + LOG_OVERHEAD + len as usize), true).ok()
                    })
                    .filter(|b| b.base_offset >= log.high_watermark());
                let Some(b) = parsed else {
                    tracing::warn!(path = %path.display(), at = pos, "truncating torn or corrupt segment tail");
                    OpenOptions::new()
                        .write(true)
                        .open(path)?
                        .set_len(pos as u64)?;
                    broken = true;
                    break;
                };
                pos += b.size();
                if b.next_offset() > log_start {
                    log.push(b, written_ms, roll);
                }
            }
        }
        log.recover_start(log_start);
        if let Some((_, path)) = self.list(topic, partition)?.pop() {
            let file = OpenOptions::new().append(true).open(&path)?;
            let size = file.metadata()?.len();
            self.active
                .insert((topic.to_owned(), partition), Active { file, size });
        }
        Ok(())
    }

    fn open_new(&mut self, topic: &str, partition: i32, base: i64) -> std::io::Result<()> {
        let dir = self.dir(topic, partition);
        fs::create_dir_all(&dir)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(segment_name(base)))?;
        let size = file.metadata()?.len();
        self.active
            .insert((topic.to_owned(), partition), Active { file, size });
        Ok(())
    }

    pub fn append_all(&mut self, written: &[(String, i32, Batch)]) -> std::io::Result<()> {
        let mut touched: Vec<(String, i32)> = Vec::new();
        for (topic, p, batch) in written {
            let key = (topic.clone(), *p);
            let roll = self
                .roll_bytes
                .get(topic)
                .copied()
                .unwrap_or(DEFAULT_ROLL_BYTES);
            let needs_new = self
                .active
                .get(&key)
                .is_none_or(|a| a.size > 0 && a.size + batch.size() as u64 > roll);
            if needs_new {
                self.open_new(topic, *p, batch.base_offset)?;
            }
            let a = self.active.get_mut(&key).expect("opened above");
            a.file.write_all(&batch.bytes)?;
            a.size += batch.size() as u64;
            if !touched.contains(&key) {
                touched.push(key);
            }
        }
        if self.fsync == FsyncPolicy::Always {
            for key in &touched {
                self.active[key].file.sync_data()?;
            }
        }
        Ok(())
    }

    /// Replaces every segment of a partition with one holding `batches`. Crash-safe by
    /// directory swap: the new segment is complete in `<dir>.cleaned` before `<dir>` moves to
    /// `<dir>.deleted`; `settle_swap` finishes or rolls back an interrupted swap at start.
    pub fn rewrite<'a>(
        &mut self,
        topic: &str,
        partition: i32,
        batches: impl Iterator<Item = &'a Batch>,
    ) -> std::io::Result<()> {
        let dir = self.dir(topic, partition);
        let (cleaned, deleted) = (swap_path(&dir, "cleaned"), swap_path(&dir, "deleted"));
        if cleaned.exists() {
            fs::remove_dir_all(&cleaned)?;
        }
        fs::create_dir_all(&cleaned)?;
        let mut file = None;
        for b in batches {
            let f = match &mut file {
                Some(f) => f,
                None => file.insert(File::create(cleaned.join(segment_name(b.base_offset)))?),
            };
            f.write_all(&b.bytes)?;
        }
        if let Some(f) = &file {
            f.sync_all()?;
        }
        File::open(&cleaned)?.sync_all()?;
        self.active.remove(&(topic.to_owned(), partition));
        if dir.exists() {
            fs::rename(&dir, &deleted)?;
        }
        fs::rename(&cleaned, &dir)?;
        File::open(&self.root)?.sync_all()?;
        if deleted.exists() {
            fs::remove_dir_all(&deleted)?;
        }
        if let Some((_, path)) = self.list(topic, partition)?.pop() {
            let file = OpenOptions::new().append(true).open(&path)?;
            let size = file.metadata()?.len();
            self.active
                .insert((topic.to_owned(), partition), Active { file, size });
        }
        Ok(())
    }

    /// Deletes segments whose every batch lies below `log_start`.
    pub fn delete_below(
        &mut self,
        topic: &str,
        partition: i32,
        log_start: i64,
    ) -> std::io::Result<()> {
        let files = self.list(topic, partition)?;
        for pair in files.windows(2) {
            if pair[1].0 <= log_start {
                fs::remove_file(&pair[0].1)?;
            }
        }
        Ok(())
    }

    pub fn delete_topic(&mut self, topic: &str, partitions: usize) -> std::io::Result<()> {
        for p in 0..partitions as i32 {
            self.active.remove(&(topic.to_owned(), p));
            let dir = self.dir(topic, p);
            for d in [swap_path(&dir, "cleaned"), swap_path(&dir, "deleted"), dir] {
                if d.exists() {
                    fs::remove_dir_all(d)?;
                }
            }
        }
        self.roll_bytes.remove(topic);
        Ok(())
    }
}
