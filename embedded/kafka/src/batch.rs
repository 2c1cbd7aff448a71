//! A view over one v2 record batch kept as the bytes the producer sent.
//!
//! The broker never re-encodes a producer's batch: it reads the fixed header fields, checks the
//! CRC and rewrites only the base offset (and, for `LogAppendTime` topics, the max timestamp).
//! Control batches (transaction markers) are built with `kafka-protocol`'s encoder.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Size of the fixed v2 batch header, up to and including the record count.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batchLength` ends: base offset (8) + batch length (4).
pub const LOG_OVERHEAD: usize = 12;

const OFF_MAGIC: usize = 16;
const OFF_CRC: usize = 17;
const OFF_ATTRIBUTES: usize = 21;
const OFF_LAST_OFFSET_DELTA: usize = 23;
const OFF_BASE_TIMESTAMP: usize = 27;
const OFF_MAX_TIMESTAMP: usize = 35;
const OFF_PRODUCER_ID: usize = 43;
const OFF_PRODUCER_EPOCH: usize = 51;
const OFF_BASE_SEQUENCE: usize = 53;
const OFF_RECORD_COUNT: usize = 57;

/// Smallest encoding of one record: length, attributes, timestamp delta, offset delta, key
/// length, value length and header count, one byte each.
const MIN_RECORD_BYTES: usize = 7;

const ATTR_TIMESTAMP_TYPE: i16 = 1 << 3;
const ATTR_TRANSACTIONAL: i16 = 1 << 4;
const ATTR_CONTROL: i16 = 1 << 5;

/// Why a produced batch was refused; maps onto a Kafka error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("record batch is truncated or its length field is inconsistent")]
    Corrupt,
    #[error("record batch magic {0} is not supported (only v2)")]
    UnsupportedMagic(i8),
    #[error("record batch CRC mismatch")]
    CrcMismatch,
    #[error("record batch has no records")]
    Empty,
    #[error("clients may not write control batches")]
    ControlFromClient,
    #[error("record count {count} does not match last offset delta {delta}")]
    CountMismatch { count: i32, delta: i32 },
}

/// Parsed header fields of one batch plus its bytes (base offset as stored).
#[derive(Debug, Clone)]
pub struct Batch {
    pub bytes: Bytes,
    pub base_offset: i64,
    pub last_offset_delta: i32,
    pub attributes: i16,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Batch {
    /// Parses one batch from the front of `bytes` (which must hold exactly that batch).
    pub fn parse(bytes: Bytes, verify_crc: bool) -> Result<Self, BatchError> {
        let b = &bytes[..];
        if b.len() < HEADER_LEN {
            return Err(BatchError::Corrupt);
        }
        let batch_len = be_i32(b, 8);
        if batch_len < 0 || LOG_OVERHEAD + batch_len as usize != b.len() {
            return Err(BatchError::Corrupt);
        }
        let magic = b[OFF_MAGIC] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        if verify_crc {
            let stored = u32::from_be_bytes(b[OFF_CRC..OFF_CRC + 4].try_into().expect("4"));
            if crc32c::crc32c(&b[OFF_ATTRIBUTES..]) != stored {
                return Err(BatchError::CrcMismatch);
            }
        }
        let record_count = be_i32(b, OFF_RECORD_COUNT);
        let last_offset_delta = be_i32(b, OFF_LAST_OFFSET_DELTA);
        // Count 0 is legal in the log: compaction keeps an emptied batch's header so the
        // offset range and the producer's last sequence survive (as Kafka does).
        if record_count < 0 || last_offset_delta < 0 {
            return Err(BatchError::Empty);
        }
        Ok(Self {
            base_offset: be_i64(b, 0),
            last_offset_delta,
            attributes: be_i16(b, OFF_ATTRIBUTES),
            base_timestamp: be_i64(b, OFF_BASE_TIMESTAMP),
            max_timestamp: be_i64(b, OFF_MAX_TIMESTAMP),
            producer_id: be_i64(b, OFF_PRODUCER_ID),
            producer_epoch: be_i16(b, OFF_PRODUCER_EPOCH),
            base_sequence: be_i32(b, OFF_BASE_SEQUENCE),
            record_count,
            bytes,
        })
    }

    /// Splits the `records` field of a produce request into its batches.
    pub fn split_all(mut records: Bytes, verify_crc: bool) -> Result<Vec<Self>, BatchError> {
        let mut out = Vec::new();
        while !records.is_empty() {
            if records.len() < LOG_OVERHEAD {
                return Err(BatchError::Corrupt);
            }
            let len = be_i32(&records, 8);
            if len < 0 || records.len() < LOG_OVERHEAD + len as usize {
                return Err(BatchError::Corrupt);
            }
            let one = records.split_to(LOG_OVERHEAD + len as usize);
            out.push(Self::parse(one, verify_crc)?);
        }
        if out.is_empty() {
            return Err(BatchError::Empty);
        }
        Ok(out)
    }

    /// Kafka's checks on a batch a client produced: no control batches, a record count that
    /// matches the offset range, and (uncompressed) no more records than the bytes can hold.
    pub fn validate_from_producer(&self) -> Result<(), BatchError> {
        if self.is_control() {
            return Err(BatchError::ControlFromClient);
        }
        let count_fits = self.compression_bits() != 0
            || self.record_count as usize <= (self.size() - HEADER_LEN) / MIN_RECORD_BYTES;
        if self.last_offset_delta != self.record_count - 1 || !count_fits {
            return Err(BatchError::CountMismatch {
                count: self.record_count,
                delta: self.last_offset_delta,
            });
        }
        Ok(())
    }

    pub fn log_append_time(&self) -> bool {
        self.attributes & ATTR_TIMESTAMP_TYPE != 0
    }

    /// After compaction re-encoded `self`'s survivors as `encoded`: restore what the encoder
    /// cannot know — the original last offset, the timestamp type and a base sequence that keeps
    /// the batch's last sequence — and re-checksum.
    pub fn restore_header_from(&self, encoded: &Batch) -> Batch {
        let mut buf = BytesMut::from(&encoded.bytes[..]);
        let delta = (self.last_offset() - encoded.base_offset) as i32;
        buf[OFF_LAST_OFFSET_DELTA..OFF_LAST_OFFSET_DELTA + 4].copy_from_slice(&delta.to_be_bytes());
        let attrs =
            (encoded.attributes & !ATTR_TIMESTAMP_TYPE) | (self.attributes & ATTR_TIMESTAMP_TYPE);
        buf[OFF_ATTRIBUTES..OFF_ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
        if self.log_append_time() {
            buf[OFF_MAX_TIMESTAMP..OFF_MAX_TIMESTAMP + 8]
                .copy_from_slice(&self.max_timestamp.to_be_bytes());
        }
        let seq = if self.base_sequence < 0 {
            self.base_sequence
        } else {
            let shifted = i64::from(self.base_sequence) + (encoded.base_offset - self.base_offset);
            (shifted % (i64::from(i32::MAX) + 1)) as i32
        };
        buf[OFF_BASE_SEQUENCE..OFF_BASE_SEQUENCE + 4].copy_from_slice(&seq.to_be_bytes());
        let crc = crc32c::crc32c(&buf[OFF_ATTRIBUTES..]);
        buf[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
        Batch::parse(buf.freeze(), true).expect("header rewrite keeps the batch valid")
    }

    /// The header of `self` with no records: what compaction keeps of an emptied batch.
    pub fn emptied(&self) -> Batch {
        let mut buf = BytesMut::from(&self.bytes[..HEADER_LEN]);
        let body_len = (HEADER_LEN - LOG_OVERHEAD) as i32;
        buf[8..12].copy_from_slice(&body_len.to_be_bytes());
        let attrs = self.attributes & !0x7; // no records, so no codec
        buf[OFF_ATTRIBUTES..OFF_ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
        buf[OFF_RECORD_COUNT..OFF_RECORD_COUNT + 4].copy_from_slice(&0i32.to_be_bytes());
        let crc = crc32c::crc32c(&buf[OFF_ATTRIBUTES..]);
        buf[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
        Batch::parse(buf.freeze(), true).expect("emptied header is valid")
    }

    fn compression_bits(&self) -> i16 {
        self.attributes & 0x7
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
    pub fn has_producer(&self) -> bool {
        self.producer_id >= 0
    }
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        // Sequences wrap at i32::MAX back to 0 (Kafka's DefaultRecordBatch).
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Returns a copy placed at `base_offset`. When `log_append_time` is set, the timestamp type
    /// bit and max timestamp are rewritten and the CRC recomputed, as Kafka does.
    pub fn assign(&self, base_offset: i64, log_append_time: Option<i64>) -> Self {
        let mut buf = BytesMut::from(&self.bytes[..]);
        buf[0..8].copy_from_slice(&base_offset.to_be_bytes());
        buf[12..16].copy_from_slice(&0i32.to_be_bytes());
        let mut out = self.clone();
        if let Some(now) = log_append_time {
            let attrs = self.attributes | ATTR_TIMESTAMP_TYPE;
            buf[OFF_ATTRIBUTES..OFF_ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
            buf[OFF_MAX_TIMESTAMP..OFF_MAX_TIMESTAMP + 8].copy_from_slice(&now.to_be_bytes());
            let crc = crc32c::crc32c(&buf[OFF_ATTRIBUTES..]);
            buf[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
            out.attributes = attrs;
            out.max_timestamp = now;
        }
        out.base_offset = base_offset;
        out.bytes = buf.freeze();
        out
    }
}

/// The two kinds of transaction marker (Kafka's `ControlRecordType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Abort,
    Commit,
}

/// Builds a control batch holding one transaction marker for `producer_id`/`epoch`.
pub fn control_batch(
    marker: Marker,
    producer_id: i64,
    producer_epoch: i16,
    coordinator_epoch: i32,
    now_ms: i64,
) -> Batch {
    let mut key = BytesMut::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&(marker as i16).to_be_bytes());
    let mut value = BytesMut::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: kafka_protocol::indexmap::IndexMap::default(),
    };
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, [&record], &options).expect("encode control batch");
    Batch::parse(buf.freeze(), true).expect("control batch we built is valid")
}

/// Reads the marker type out of a control batch, if it is one.
pub fn marker_of(batch: &Batch) -> Option<Marker> {
    if !batch.is_control() {
        return None;
    }
    let mut d =
        kafka_protocol::records::RecordBatchDecoder::decode(&mut batch.bytes.clone()).ok()?;
    let rec = d.records.pop()?;
    let mut key = rec.key?;
    if key.remaining() < 4 {
        return None;
    }
    let _version = key.get_i16();
    match key.get_i16() {
        0 => Some(Marker::Abort),
        1 => Some(Marker::Commit),
        _ => None,
    }
}

/// Convenience used by handlers to name a topic in responses.
pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_batch_round_trips_and_assign_keeps_crc_valid() {
        let b = control_batch(Marker::Commit, 7, 3, 0, 1_000);
        assert!(b.is_control() && b.is_transactional());
        assert_eq!((b.producer_id, b.producer_epoch), (7, 3));
        assert_eq!(marker_of(&b), Some(Marker::Commit));
        let placed = b.assign(42, Some(5_000));
        let reparsed = Batch::parse(placed.bytes.clone(), true).unwrap();
        assert_eq!(reparsed.base_offset, 42);
        assert_eq!(reparsed.max_timestamp, 5_000);
        assert_eq!(marker_of(&reparsed), Some(Marker::Commit));
    }

    #[test]
    fn corrupt_inputs_are_rejected_not_panicking() {
        assert_eq!(
            Batch::parse(Bytes::from_static(&[0; 10]), true).unwrap_err(),
            BatchError::Corrupt
        );
        let good = control_batch(Marker::Abort, 1, 0, 0, 0);
        let mut bad = BytesMut::from(&good.bytes[..]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert_eq!(
            Batch::parse(bad.freeze(), true).unwrap_err(),
            BatchError::CrcMismatch
        );
        let mut truncated = good.bytes.clone();
        truncated.truncate(good.bytes.len() - 1);
        assert!(Batch::split_all(truncated, true).is_err());
    }

    #[test]
    fn emptied_batch_keeps_offsets_and_producer() {
        let b = control_batch(Marker::Commit, 9, 2, 0, 0).assign(100, None);
        let e = b.emptied();
        assert_eq!(
            (e.base_offset, e.last_offset(), e.record_count),
            (100, 100, 0)
        );
        assert_eq!((e.producer_id, e.producer_epoch), (9, 2));
        assert!(
            e.validate_from_producer().is_err(),
            "clients may not send empty batches"
        );
    }

    #[test]
    fn sequence_wraps_like_kafka() {
        let mut b = control_batch(Marker::Abort, 1, 0, 0, 0);
        b.base_sequence = i32::MAX;
        b.last_offset_delta = 2;
        assert_eq!(b.last_sequence(), 1);
    }
}
