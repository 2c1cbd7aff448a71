//! A partition's segments as Apache Kafka keeps them. Retention deletes whole segments, never
//! single batches, and only when the retention check runs (`log.retention.check.interval.ms`):
//! by time when a segment's largest record timestamp is older than `retention.ms` — a segment
//! whose records carry no timestamp (-1) is aged by when it was last written, like Kafka's file
//! mtime — and by size oldest first while the log stays over `retention.bytes`. So records
//! with old or missing timestamps are readable after they are acknowledged, as on Kafka.

use std::collections::VecDeque;

use crate::batch::Batch;
use crate::log::config::TopicConfig;

/// When a new segment starts (Kafka's `segment.bytes` and `segment.ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roll {
    pub bytes: u64,
    pub ms: i64,
}

impl Default for Roll {
    fn default() -> Self {
        Self::of(&TopicConfig::default())
    }
}

impl Roll {
    pub fn of(config: &TopicConfig) -> Self {
        Self {
            bytes: config.segment_bytes(),
            ms: config.segment_ms(),
        }
    }
}

/// The broker's clock and the topic settings one append needs.
#[derive(Debug, Clone, Copy)]
pub struct AppendAt {
    pub now_ms: i64,
    pub roll: Roll,
    /// `message.timestamp.type=LogAppendTime`: the broker stamps the batch with `now_ms`.
    pub log_append_time: bool,
}

impl AppendAt {
    pub fn of(config: &TopicConfig, now_ms: i64) -> Self {
        Self {
            now_ms,
            roll: Roll::of(config),
            log_append_time: config.log_append_time(),
        }
    }
}

/// One segment's bookkeeping (its batches stay in the partition log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub base_offset: i64,
    /// Broker time of the first append: `segment.ms` counts from here when the first batch
    /// has no timestamp.
    created_ms: i64,
    /// Broker time of the last append; Kafka reads it from the file's mtime.
    last_append_ms: i64,
    /// Largest record timestamp seen, -1 when no record had one.
    max_timestamp: i64,
    /// The first batch's largest timestamp, which `segment.ms` counts from (-1: none).
    rolling_timestamp: i64,
    pub bytes: u64,
}

impl Segment {
    /// Kafka's `LogSegment.largestTimestamp`: the records' newest timestamp, else the mtime.
    pub fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp >= 0 {
            self.max_timestamp
        } else {
            self.last_append_ms
        }
    }

    /// Kafka's `LogSegment.timeWaitedForRoll`.
    fn time_waited_for_roll(&self, now_ms: i64, timestamp: i64) -> i64 {
        if self.rolling_timestamp >= 0 {
            timestamp - self.rolling_timestamp
        } else {
            now_ms - self.created_ms
        }
    }
}

/// The segments of one partition, oldest first.
#[derive(Debug, Default, Clone)]
pub struct SegmentIndex {
    segments: VecDeque<Segment>,
}

impl SegmentIndex {
    pub fn iter(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }

    /// Base offset of the segment appends go to (Kafka's active segment), if any.
    pub fn active_base(&self) -> Option<i64> {
        self.segments.back().map(|s| s.base_offset)
    }

    /// Accounts for a batch appended at the log end (`now_ms` is when, or, on recovery, when
    /// its file was last written), rolling a new segment first when the policy says so.
    pub fn on_append(&mut self, b: &Batch, now_ms: i64, roll: Roll) {
        let size = b.size() as u64;
        let timestamp = b.max_timestamp;
        let full = self.segments.back().is_none_or(|s| {
            s.bytes > 0
                && (s.bytes + size > roll.bytes
                    || s.time_waited_for_roll(now_ms, timestamp) > roll.ms)
        });
        if full {
            self.segments.push_back(Segment {
                base_offset: b.base_offset,
                created_ms: now_ms,
                last_append_ms: now_ms,
                max_timestamp: -1,
                rolling_timestamp: timestamp.max(-1),
                bytes: 0,
            });
        }
        let s = self.segments.back_mut().expect("pushed above");
        s.bytes += size;
        s.last_append_ms = s.last_append_ms.max(now_ms);
        s.max_timestamp = s.max_timestamp.max(timestamp);
    }

    /// Where the log may start after a retention check: the base offset of the first segment
    /// kept, the log end when every segment goes, or `None` when none goes. Segments reaching
    /// past `bound` (the last stable offset) stay, as Kafka keeps those past the high watermark.
    pub fn retention_start(
        &self,
        now_ms: i64,
        retention_ms: i64,
        retention_bytes: i64,
        log_end: i64,
        bound: i64,
    ) -> Option<i64> {
        let end_of = |i: usize| {
            self.segments
                .get(i + 1)
                .map_or(log_end, |next| next.base_offset)
        };
        let deletable = |i: usize| {
            let s = &self.segments[i];
            end_of(i) <= bound && !(i + 1 == self.segments.len() && s.bytes == 0)
        };
        let mut gone = 0;
        if retention_ms >= 0 {
            while gone < self.segments.len()
                && deletable(gone)
                && now_ms - self.segments[gone].largest_timestamp() > retention_ms
            {
                gone += 1;
            }
        }
        if retention_bytes >= 0 {
            // Kafka measures the log after the time-based deletions.
            let kept_bytes: u64 = self.segments.iter().skip(gone).map(|s| s.bytes).sum();
            let mut over = kept_bytes as i64 - retention_bytes;
            while gone < self.segments.len()
                && deletable(gone)
                && over - self.segments[gone].bytes as i64 >= 0
            {
                over -= self.segments[gone].bytes as i64;
                gone += 1;
            }
        }
        (gone > 0).then(|| end_of(gone - 1))
    }

    /// Forgets the segments that hold no batch at or after `first_kept` (the first batch left;
    /// `None` when the log is empty).
    pub fn drop_before(&mut self, first_kept: Option<i64>) {
        let Some(first) = first_kept else {
            self.segments.clear();
            return;
        };
        while self.segments.len() > 1 && self.segments[1].base_offset <= first {
            self.segments.pop_front();
        }
    }

    /// Recomputes each segment's size after compaction rewrote batches in place.
    pub fn recount<'a>(&mut self, batches: impl Iterator<Item = &'a Batch>) {
        for s in &mut self.segments {
            s.bytes = 0;
        }
        let mut i = 0;
        for b in batches {
            while i + 1 < self.segments.len() && self.segments[i + 1].base_offset <= b.base_offset {
                i += 1;
            }
            if let Some(s) = self.segments.get_mut(i) {
                s.bytes += b.size() as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::partition::tests::batch_at;

    const DAY: i64 = 86_400_000;

    fn index(batches: &[(i64, i64, i64)], roll: Roll) -> SegmentIndex {
        let mut ix = SegmentIndex::default();
        for &(offset, timestamp, now) in batches {
            ix.on_append(&batch_at(offset, timestamp), now, roll);
        }
        ix
    }

    fn bases(ix: &SegmentIndex) -> Vec<i64> {
        ix.iter().map(|s| s.base_offset).collect()
    }

    #[test]
    fn segments_roll_by_size_and_by_record_time() {
        let size = batch_at(0, 0).size() as u64;
        let by_size = index(
            &[(0, 10, 10), (1, 10, 10), (2, 10, 10)],
            Roll {
                bytes: 2 * size,
                ms: DAY,
            },
        );
        assert_eq!(bases(&by_size), vec![0, 2]);
        // segment.ms counts from the first batch's timestamp, in record time.
        let by_time = index(
            &[(0, 1_000, 5), (1, 1_000 + DAY, 6), (2, 1_001 + DAY, 7)],
            Roll {
                bytes: u64::MAX,
                ms: DAY,
            },
        );
        assert_eq!(bases(&by_time), vec![0, 2]);
        // No timestamps: from when the segment was created.
        let untimed = index(
            &[(0, -1, 0), (1, -1, DAY), (2, -1, DAY + 1)],
            Roll {
                bytes: u64::MAX,
                ms: DAY,
            },
        );
        assert_eq!(bases(&untimed), vec![0, 2]);
    }

    #[test]
    fn time_retention_goes_by_the_largest_timestamp_or_the_last_write() {
        let now = 100 * DAY;
        let roll = Roll { bytes: 1, ms: DAY }; // one batch per segment
        // Offset 0: a 1970 record; 1: no timestamp, written now; 2: eight days old.
        let ix = index(&[(0, 5, now), (1, -1, now), (2, now - 8 * DAY, now)], roll);
        let week = 7 * DAY;
        // The untimed segment is young: retention stops there, keeping everything after it.
        assert_eq!(ix.retention_start(now, week, -1, 3, 3), Some(1));
        // A week later it has aged by its write time, and so has everything else.
        assert_eq!(ix.retention_start(now + week + 1, week, -1, 3, 3), Some(3));
        // Nothing past the bound (an open transaction) goes.
        assert_eq!(ix.retention_start(now + week + 1, week, -1, 3, 2), Some(2));
        assert_eq!(ix.retention_start(now, -1, -1, 3, 3), None);
    }

    #[test]
    fn size_retention_deletes_whole_segments_oldest_first() {
        let size = batch_at(0, 0).size() as u64;
        let roll = Roll {
            bytes: 2 * size,
            ms: DAY,
        };
        let ix = index(
            &[(0, 1, 1), (1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 1, 1)],
            roll,
        );
        assert_eq!(bases(&ix), vec![0, 2, 4]);
        // 5 batches, room for 2: the first two-batch segment goes, the second would leave 1.
        assert_eq!(ix.retention_start(2, -1, 2 * size as i64, 5, 5), Some(2));
        assert_eq!(ix.retention_start(2, -1, 5 * size as i64, 5, 5), None);
        assert_eq!(ix.retention_start(2, -1, 0, 5, 5), Some(5));
    }

    #[test]
    fn dropping_and_recounting_follow_the_batches() {
        let size = batch_at(0, 0).size() as u64;
        let roll = Roll {
            bytes: 2 * size,
            ms: DAY,
        };
        let mut ix = index(&[(0, 1, 1), (1, 1, 1), (2, 1, 1), (3, 1, 1)], roll);
        ix.drop_before(Some(2));
        assert_eq!(bases(&ix), vec![2]);
        ix.recount([batch_at(3, 1)].iter());
        assert_eq!(ix.iter().map(|s| s.bytes).collect::<Vec<_>>(), vec![size]);
        ix.drop_before(None);
        assert_eq!(bases(&ix), Vec::<i64>::new());
    }
}
