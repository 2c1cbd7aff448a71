//! One partition's log: batches in offset order, the high watermark, the last stable offset,
//! per-producer idempotence state and the aborted-transaction index read_committed needs.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;
use kafka_protocol::ResponseError;

use crate::batch::{self, Batch, Marker};
use crate::log::config::TopicConfig;
use crate::log::segment::{AppendAt, Roll, SegmentIndex};

/// How many recent batches per producer are remembered for duplicate detection (Kafka: 5).
const PRODUCER_BATCH_WINDOW: usize = 5;

/// A transaction that ended in an abort marker, as listed in Fetch responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// Idempotence and transaction state of one producer on one partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// `(first_seq, last_seq, base_offset)` of the most recent batches, oldest first.
    pub recent: VecDeque<(i32, i32, i64)>,
    /// First offset of this producer's open transaction on this partition.
    pub txn_first_offset: Option<i64>,
}

/// Outcome of appending one producer batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    /// The batch was a retry of one already in the log; nothing was written.
    pub duplicate: bool,
}

/// What a fetch returns for one partition.
#[derive(Debug, Default)]
pub struct FetchSlice {
    pub batches: Vec<Bytes>,
    pub bytes: usize,
    pub aborted: Vec<AbortedTxn>,
}

/// One partition's in-memory log. Persistence wraps it (see `storage`).
#[derive(Debug, Default)]
pub struct PartitionLog {
    batches: VecDeque<Batch>,
    log_start: i64,
    high_watermark: i64,
    size_bytes: usize,
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
    aborted: Vec<AbortedTxn>,
    /// Compaction has already processed everything below this offset.
    cleaned_upto: i64,
    /// The unit retention deletes.
    segments: SegmentIndex,
}

impl PartitionLog {
    pub fn log_start(&self) -> i64 {
        self.log_start
    }
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    pub fn size_bytes(&self) -> usize {
        self.size_bytes
    }
    pub fn batches(&self) -> impl Iterator<Item = &Batch> {
        self.batches.iter()
    }

    /// Last stable offset: the first offset of the earliest open transaction, else the HW.
    /// Where the active segment starts: compaction never goes past it, as on Kafka.
    pub fn active_segment_base(&self) -> i64 {
        self.segments.active_base().unwrap_or(self.high_watermark)
    }

    pub fn last_stable_offset(&self) -> i64 {
        self.ongoing
            .keys()
            .next()
            .copied()
            .unwrap_or(self.high_watermark)
    }

    /// Checks a producer batch against the idempotence state without changing anything.
    /// Returns `Some(offset)` when the batch duplicates one already written.
    fn check_sequence(&self, b: &Batch) -> Result<Option<i64>, ResponseError> {
        let Some(entry) = self.producers.get(&b.producer_id) else {
            // Like Kafka: with no state for the producer (new here, or its state was removed)
            // any sequence is accepted and becomes the baseline.
            return Ok(None);
        };
        if b.producer_epoch < entry.epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        if b.producer_epoch > entry.epoch || b.base_sequence < 0 {
            return if b.base_sequence <= 0 {
                Ok(None)
            } else {
                Err(ResponseError::OutOfOrderSequenceNumber)
            };
        }
        if let Some(&(_, _, off)) = entry
            .recent
            .iter()
            .find(|(f, l, _)| *f == b.base_sequence && *l == b.last_sequence())
        {
            return Ok(Some(off));
        }
        let expected = match entry.recent.back() {
            Some(&(_, last, _)) if last == i32::MAX => 0,
            Some(&(_, last, _)) => last + 1,
            None => 0,
        };
        if b.base_sequence == expected {
            Ok(None)
        } else {
            Err(ResponseError::OutOfOrderSequenceNumber)
        }
    }

    /// Checks the first batch of a produce request against the idempotence state before
    /// anything is written (later batches chain on it and are checked as they append).
    pub fn validate(&self, batches: &[Batch]) -> Result<(), ResponseError> {
        match batches.first() {
            Some(b) if b.has_producer() => self.check_sequence(b).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// `(producer id, epoch)` of every transaction still open on this partition.
    pub fn open_transactions(&self) -> Vec<(i64, i16)> {
        self.producers
            .iter()
            .filter(|(_, e)| e.txn_first_offset.is_some())
            .map(|(pid, e)| (*pid, e.epoch))
            .collect()
    }

    /// Appends one producer batch at the end of the log, enforcing idempotence.
    pub fn append(
        &mut self,
        b: &Batch,
        at: AppendAt,
    ) -> Result<(Appended, Option<Batch>), ResponseError> {
        if b.has_producer()
            && let Some(off) = self.check_sequence(b)?
        {
            return Ok((
                Appended {
                    base_offset: off,
                    duplicate: true,
                },
                None,
            ));
        }
        let placed = b.assign(self.high_watermark, at.log_append_time.then_some(at.now_ms));
        self.push(placed.clone(), at.now_ms, at.roll);
        Ok((
            Appended {
                base_offset: placed.base_offset,
                duplicate: false,
            },
            Some(placed),
        ))
    }

    /// Writes a transaction marker for `producer_id` and closes its transaction here.
    pub fn append_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        marker: Marker,
        at: AppendAt,
    ) -> Batch {
        let placed = batch::control_batch(marker, producer_id, epoch, 0, at.now_ms)
            .assign(self.high_watermark, None);
        self.push(placed.clone(), at.now_ms, at.roll);
        placed
    }

    /// Adds an already-placed batch (append path and log recovery) and updates every index;
    /// `now_ms` is when it was written (on recovery: its segment file's mtime).
    pub fn push(&mut self, b: Batch, now_ms: i64, roll: Roll) {
        if b.has_producer() {
            let entry = self.producers.entry(b.producer_id).or_default();
            if b.producer_epoch > entry.epoch {
                entry.epoch = b.producer_epoch;
                entry.recent.clear();
            }
            if b.is_control() {
                if let Some(first) = entry.txn_first_offset.take() {
                    self.ongoing.remove(&first);
                    if batch::marker_of(&b) == Some(Marker::Abort) {
                        self.aborted.push(AbortedTxn {
                            producer_id: b.producer_id,
                            first_offset: first,
                            last_offset: b.base_offset,
                        });
                    }
                }
            } else {
                if b.base_sequence >= 0 {
                    entry
                        .recent
                        .push_back((b.base_sequence, b.last_sequence(), b.base_offset));
                    if entry.recent.len() > PRODUCER_BATCH_WINDOW {
                        entry.recent.pop_front();
                    }
                }
                if b.is_transactional() && entry.txn_first_offset.is_none() {
                    entry.txn_first_offset = Some(b.base_offset);
                    self.ongoing.insert(b.base_offset, b.producer_id);
                }
            }
        }
        self.high_watermark = b.next_offset();
        self.size_bytes += b.size();
        self.segments.on_append(&b, now_ms, roll);
        self.batches.push_back(b);
    }

    /// After recovery: the log starts where the journal says (compaction may have removed the
    /// first records without moving the log start), or at the end if nothing survived.
    pub fn recover_start(&mut self, start: i64) {
        self.high_watermark = self.high_watermark.max(start);
        self.log_start = start;
    }

    /// Batches from the one containing `offset` up to `upto` (exclusive), at most
    /// `max_bytes` — except that with `min_one` the first batch goes out even when larger
    /// (KIP-74: only for the first non-empty partition of a fetch).
    fn slice(&self, offset: i64, upto: i64, max_bytes: usize, min_one: bool) -> Vec<&Batch> {
        let start = self.batches.partition_point(|b| b.last_offset() < offset);
        let mut out = Vec::new();
        let mut total = 0usize;
        for b in self.batches.range(start..) {
            let fits = total + b.size() <= max_bytes || (out.is_empty() && min_one);
            if b.last_offset() >= upto || !fits {
                break;
            }
            total += b.size();
            out.push(b);
        }
        out
    }

    /// Reads for a consumer. `read_committed` stops at the LSO and lists aborted transactions;
    /// `min_one` lets the first batch exceed `max_bytes` (see [`PartitionLog::slice`]).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        read_committed: bool,
        min_one: bool,
    ) -> Result<FetchSlice, ResponseError> {
        if offset < self.log_start || offset > self.high_watermark {
            return Err(ResponseError::OffsetOutOfRange);
        }
        let upto = if read_committed {
            self.last_stable_offset()
        } else {
            self.high_watermark
        };
        let picked = self.slice(offset, upto, max_bytes, min_one);
        let end = picked.last().map_or(offset, |b| b.next_offset());
        let aborted = if read_committed {
            self.aborted
                .iter()
                .filter(|a| a.last_offset >= offset && a.first_offset < end)
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        Ok(FetchSlice {
            bytes: picked.iter().map(|b| b.size()).sum(),
            batches: picked.iter().map(|b| b.bytes.clone()).collect(),
            aborted,
        })
    }

    /// First offset whose record timestamp is >= `ts`, with that timestamp (ListOffsets).
    pub fn offset_for_timestamp(&self, ts: i64, upto: i64) -> Option<(i64, i64)> {
        for b in &self.batches {
            if b.base_offset >= upto {
                break;
            }
            if b.is_control() || b.record_count == 0 || b.max_timestamp < ts {
                continue;
            }
            if b.log_append_time() {
                // Every record of the batch carries the broker's append time.
                return Some((b.base_offset, b.max_timestamp));
            }
            let set =
                kafka_protocol::records::RecordBatchDecoder::decode(&mut b.bytes.clone()).ok()?;
            if let Some(r) = set
                .records
                .iter()
                .find(|r| r.timestamp >= ts && r.offset < upto)
            {
                return Some((r.offset, r.timestamp));
            }
        }
        None
    }

    /// Offset and timestamp of the record with the largest timestamp (ListOffsets -3).
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let b = self
            .batches
            .iter()
            .filter(|b| !b.is_control() && b.record_count > 0)
            .max_by_key(|b| b.max_timestamp)?;
        if b.log_append_time() {
            return Some((b.base_offset, b.max_timestamp));
        }
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut b.bytes.clone()).ok()?;
        set.records
            .iter()
            .find(|r| r.timestamp == b.max_timestamp)
            .map(|r| (r.offset, r.timestamp))
    }

    /// Moves the log start to `new_start` (at most the HW; retention passes a segment
    /// boundary, DeleteRecords any offset) and drops the whole batches below it that are also
    /// below the LSO (open transactions keep their batches).
    pub fn truncate_front(&mut self, new_start: i64) {
        let lso = self.last_stable_offset();
        while let Some(b) = self.batches.front() {
            if b.next_offset() > new_start || b.next_offset() > lso {
                break;
            }
            self.size_bytes -= b.size();
            self.batches.pop_front();
        }
        let first = self.batches.front().map(|b| b.base_offset);
        self.segments.drop_before(first);
        self.log_start = self.log_start.max(new_start.min(self.high_watermark));
        let start = self.log_start;
        self.aborted.retain(|a| a.last_offset >= start);
    }

    /// Replaces the batches below `upto` with `kept` (compaction), offsets preserved.
    pub fn replace_prefix(&mut self, upto: i64, kept: Vec<Batch>) {
        while self
            .batches
            .front()
            .is_some_and(|b| b.next_offset() <= upto)
        {
            let b = self.batches.pop_front().expect("front exists");
            self.size_bytes -= b.size();
        }
        for b in kept.into_iter().rev() {
            self.size_bytes += b.size();
            self.batches.push_front(b);
        }
        self.segments.recount(self.batches.iter());
    }

    /// Where the log may start after a retention check at `now_ms` under `config` (whole
    /// segments only, none past the LSO); `None` when nothing expired.
    pub fn retention_start(&self, config: &TopicConfig, now_ms: i64) -> Option<i64> {
        self.segments.retention_start(
            now_ms,
            config.retention_ms(),
            config.retention_bytes(),
            self.high_watermark,
            self.last_stable_offset(),
        )
    }

    pub fn cleaned_upto(&self) -> i64 {
        self.cleaned_upto
    }
    pub fn set_cleaned_upto(&mut self, offset: i64) {
        self.cleaned_upto = offset;
    }

    pub fn aborted(&self) -> &[AbortedTxn] {
        &self.aborted
    }

    pub fn producer(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
pub(crate) mod tests;
