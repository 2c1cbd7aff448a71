//! Fetch (long poll, read_committed with aborted transactions) and ListOffsets.

use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, ProducerId,
};
use tokio::time::Instant;

use crate::broker::Broker;

/// Upper bound on how long a fetch may park, whatever the client asks.
const MAX_FETCH_WAIT: Duration = Duration::from_secs(30);
const READ_COMMITTED: i8 = 1;

/// One pass over the requested partitions: the response and how many record bytes it holds.
fn collect(broker: &Broker, req: &FetchRequest) -> (FetchResponse, usize, bool) {
    let read_committed = req.isolation_level == READ_COMMITTED;
    let mut remaining = usize::try_from(req.max_bytes).unwrap_or(0).max(1);
    let mut total = 0usize;
    let mut any_error = false;
    let cluster = broker.cluster.lock();
    let responses = req
        .topics
        .iter()
        .map(|t| {
            let topic = t.topic.0.as_str();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let pd = PartitionData::default()
                        .with_partition_index(p.partition)
                        .with_preferred_read_replica(BrokerId(-1));
                    let Some(log) = cluster.partition(topic, p.partition) else {
                        any_error = true;
                        return pd
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_high_watermark(-1)
                            .with_last_stable_offset(-1)
                            .with_log_start_offset(-1);
                    };
                    let pd = pd
                        .with_high_watermark(log.high_watermark())
                        .with_last_stable_offset(log.last_stable_offset())
                        .with_log_start_offset(log.log_start());
                    // KIP-74: the response holds at most `max_bytes` (and each partition at most
                    // its `partition_max_bytes`), except that the first batch of the first
                    // non-empty partition goes out even when it alone is larger.
                    let budget = usize::try_from(p.partition_max_bytes)
                        .unwrap_or(0)
                        .min(remaining);
                    let min_one = total == 0;
                    if budget == 0 && !min_one {
                        return pd.with_records(Some(bytes::Bytes::new()));
                    }
                    match log.read(p.fetch_offset, budget, read_committed, min_one) {
                        Ok(slice) => {
                            total += slice.bytes;
                            remaining = remaining.saturating_sub(slice.bytes);
                            let mut buf = BytesMut::with_capacity(slice.bytes);
                            for b in &slice.batches {
                                buf.extend_from_slice(b);
                            }
                            let aborted = read_committed.then(|| {
                                slice
                                    .aborted
                                    .iter()
                                    .map(|a| {
                                        AbortedTransaction::default()
                                            .with_producer_id(ProducerId(a.producer_id))
                                            .with_first_offset(a.first_offset)
                                    })
                                    .collect()
                            });
                            pd.with_records(Some(buf.freeze()))
                                .with_aborted_transactions(aborted)
                        }
                        Err(e) => {
                            any_error = true;
                            pd.with_error_code(e.code())
                        }
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default().with_responses(responses),
        total,
        any_error,
    )
}

pub async fn handle(broker: &Broker, req: FetchRequest) -> FetchResponse {
    let wait =
        Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0)).min(MAX_FETCH_WAIT);
    let deadline = Instant::now() + wait;
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0).max(1);
    loop {
        let notified = broker.data_ready.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (resp, bytes, any_error) = collect(broker, &req);
        if bytes >= min_bytes || any_error || Instant::now() >= deadline {
            metrics::counter!("broker_fetch_bytes_total").increment(bytes as u64);
            return resp;
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

pub fn list_offsets(broker: &Broker, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let read_committed = req.isolation_level == READ_COMMITTED;
    let cluster = broker.cluster.lock();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        // The field exists from v4; older encoders refuse a non-default value.
                        .with_leader_epoch(if version >= 4 { 0 } else { -1 });
                    let Some(log) = cluster.partition(t.name.0.as_str(), p.partition_index) else {
                        return r
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_offset(-1)
                            .with_timestamp(-1);
                    };
                    let upto = if read_committed {
                        log.last_stable_offset()
                    } else {
                        log.high_watermark()
                    };
                    let (offset, ts) = match p.timestamp {
                        -1 => (upto, -1),
                        -2 => (log.log_start(), -1),
                        -3 => log.max_timestamp().unwrap_or((-1, -1)),
                        ts => log.offset_for_timestamp(ts, upto).unwrap_or((-1, -1)),
                    };
                    r.with_offset(offset).with_timestamp(ts)
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
