//! Unit tests of the partition log (a file of their own: the log is near 500 lines).

use super::*;
use bytes::BytesMut;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// A producer batch of `n` keyed records as a client would send it (base offset 0).
pub(crate) fn batch(pid: i64, epoch: i16, seq: i32, transactional: bool, n: i32) -> Batch {
    encode(pid, epoch, seq, transactional, n, 1_000)
}

/// A one-record batch without producer stamped `timestamp` (-1: none), placed at `offset`.
pub(crate) fn batch_at(offset: i64, timestamp: i64) -> Batch {
    encode(-1, -1, -1, false, 1, timestamp).assign(offset, None)
}

/// The clock and policy of an append at time 0 under the default topic config.
pub(crate) fn at0() -> AppendAt {
    AppendAt::of(&crate::log::config::TopicConfig::default(), 0)
}

fn encode(pid: i64, epoch: i16, seq: i32, transactional: bool, n: i32, timestamp: i64) -> Batch {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i),
            sequence: seq.wrapping_add(i),
            timestamp: if timestamp < 0 {
                -1
            } else {
                timestamp + i64::from(i)
            },
            key: Some(bytes::Bytes::from(format!("k{i}"))),
            value: Some(bytes::Bytes::from(format!("v{i}"))),
            headers: kafka_protocol::indexmap::IndexMap::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options).unwrap();
    Batch::parse(buf.freeze(), true).unwrap()
}

#[test]
fn duplicates_get_their_original_offset_and_gaps_are_refused() {
    let mut log = PartitionLog::default();
    let first = batch(1, 0, 0, false, 3);
    assert_eq!(log.append(&first, at0()).unwrap().0.base_offset, 0);
    let (again, placed) = log.append(&first, at0()).unwrap();
    assert!(again.duplicate && placed.is_none());
    assert_eq!(again.base_offset, 0);
    assert_eq!(log.high_watermark(), 3);
    assert_eq!(
        log.append(&batch(1, 0, 5, false, 1), at0()).unwrap_err(),
        ResponseError::OutOfOrderSequenceNumber
    );
    assert_eq!(
        log.append(&batch(1, 0, 3, false, 2), at0())
            .unwrap()
            .0
            .base_offset,
        3
    );
    assert_eq!(
        log.high_watermark(),
        5,
        "HW is last offset + 1 after multi-record batches"
    );
}

#[test]
fn old_epochs_are_fenced_and_unknown_producers_start_anywhere() {
    let mut log = PartitionLog::default();
    log.append(&batch(1, 2, 0, false, 1), at0()).unwrap();
    assert_eq!(
        log.append(&batch(1, 1, 1, false, 1), at0()).unwrap_err(),
        ResponseError::InvalidProducerEpoch
    );
    assert!(
        log.append(&batch(7, 0, 42, false, 1), at0()).is_ok(),
        "no state for producer 7"
    );
}

#[test]
fn open_transactions_hold_the_lso_and_aborts_are_listed() {
    let mut log = PartitionLog::default();
    log.append(&batch(-1, -1, -1, false, 2), at0()).unwrap(); // offsets 0-1
    log.append(&batch(5, 0, 0, true, 3), at0()).unwrap(); // 2-4, open
    log.append(&batch(-1, -1, -1, false, 1), at0()).unwrap(); // 5
    assert_eq!((log.last_stable_offset(), log.high_watermark()), (2, 6));
    let committed = log.read(0, 1 << 20, true, true).unwrap();
    assert_eq!(
        committed.batches.len(),
        1,
        "read_committed stops at the LSO"
    );
    log.append_marker(5, 0, Marker::Abort, at0()); // 6
    assert_eq!(log.last_stable_offset(), 7);
    let all = log.read(0, 1 << 20, true, true).unwrap();
    assert_eq!(
        all.aborted,
        vec![AbortedTxn {
            producer_id: 5,
            first_offset: 2,
            last_offset: 6
        }]
    );
    assert!(
        log.read(6, 1 << 20, true, true).unwrap().aborted.len() == 1,
        "marker still in range"
    );
    assert!(log.read(7, 1 << 20, true, true).unwrap().aborted.is_empty());
    assert_eq!(
        log.read(8, 1 << 20, true, true).unwrap_err(),
        ResponseError::OffsetOutOfRange
    );
}

#[test]
fn fetch_inside_a_batch_returns_the_containing_batch() {
    let mut log = PartitionLog::default();
    log.append(&batch(-1, -1, -1, false, 100), at0()).unwrap();
    let slice = log.read(50, 1, false, true).unwrap();
    assert_eq!(
        slice.batches.len(),
        1,
        "at least one whole batch, even over max_bytes"
    );
    assert!(
        log.read(50, 1, false, false).unwrap().batches.is_empty(),
        "not past the response's limit for a later partition"
    );
    assert_eq!(
        Batch::parse(slice.batches[0].clone(), true)
            .unwrap()
            .base_offset,
        0
    );
}
