//! Produce: validate each partition's batches, enforce idempotence and transactions, append.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use crate::batch::{Batch, BatchError};
use crate::broker::{Broker, now_ms};
use crate::cluster::Cluster;
use crate::txn::Written;

fn batch_error(e: &BatchError) -> ResponseError {
    match e {
        // Produce v3+ carries magic 2 only; Kafka refuses any other as an invalid record.
        BatchError::UnsupportedMagic(_) => ResponseError::InvalidRecord,
        BatchError::Corrupt | BatchError::CrcMismatch | BatchError::Empty => {
            ResponseError::CorruptMessage
        }
        BatchError::ControlFromClient | BatchError::CountMismatch { .. } => {
            ResponseError::InvalidRecord
        }
    }
}

/// Why a partition's records were refused: the code, and (KIP-467, Produce v8+) a message and
/// the records at fault, so the client fails only those with the code and the rest of the
/// batch with `INVALID_DIFFERENT_RECORD`.
struct Refused {
    code: ResponseError,
    message: Option<String>,
    records: Vec<(i32, String)>,
}

impl From<ResponseError> for Refused {
    fn from(code: ResponseError) -> Self {
        Self {
            code,
            message: None,
            records: Vec::new(),
        }
    }
}

/// Indexes (counted across the partition's batches from `first`) of the records without a
/// key, which a compacted topic refuses.
fn keyless(b: &Batch, first: i32) -> Vec<i32> {
    let Ok(set) = kafka_protocol::records::RecordBatchDecoder::decode(&mut b.bytes.clone()) else {
        return vec![first];
    };
    set.records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.key.is_none())
        .map(|(i, _)| first + i as i32)
        .collect()
}

/// Appends one partition's batches; returns the base offset of the first.
fn produce_partition(
    cluster: &mut Cluster,
    txn_id: Option<&str>,
    topic: &str,
    partition: i32,
    records: Option<bytes::Bytes>,
    written: &mut Written,
) -> Result<(i64, i64), Refused> {
    let t = cluster
        .topics
        .get(topic)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    let max_bytes = t.config.max_message_bytes();
    let at = cluster.append_at(topic, now_ms());
    let log = cluster
        .partition(topic, partition)
        .ok_or(ResponseError::UnknownTopicOrPartition)?;
    let batches = Batch::split_all(records.ok_or(ResponseError::CorruptMessage)?, true)
        .map_err(|e| batch_error(&e))?;
    // Produce v3+ holds exactly one batch per partition (Kafka's `validateRecords`: the whole
    // request's partition is refused, with no message and no per-record list).
    if batches.len() != 1 {
        return Err(ResponseError::InvalidRecord.into());
    }
    if batches.iter().any(|b| b.size() > max_bytes) {
        return Err(ResponseError::MessageTooLarge.into());
    }
    let mut bad = Vec::new();
    let mut index = 0i32;
    for b in &batches {
        b.validate_from_producer().map_err(|e| batch_error(&e))?;
        if t.config.compact() {
            bad.extend(keyless(b, index));
        }
        index += b.record_count;
    }
    if !bad.is_empty() {
        let message = format!(
            "Compacted topic cannot accept message without key in topic partition {topic}-{partition}."
        );
        return Err(Refused {
            code: ResponseError::InvalidRecord,
            records: bad.into_iter().map(|i| (i, message.clone())).collect(),
            message: Some(message),
        });
    }
    log.validate(&batches)?;
    for b in &batches {
        if b.is_transactional() {
            crate::txn::check_produce(
                cluster,
                txn_id.unwrap_or_default(),
                b.producer_id,
                b.producer_epoch,
                topic,
                partition,
            )?;
        }
    }
    let log = cluster
        .partition_mut(topic, partition)
        .expect("checked above");
    let mut first = None;
    for b in &batches {
        let (appended, placed) = log.append(b, at)?;
        first.get_or_insert(appended.base_offset);
        if let Some(placed) = placed {
            written.push((topic.to_owned(), partition, placed));
        }
    }
    Ok((first.expect("at least one batch"), log.log_start()))
}

pub fn handle(broker: &Broker, req: ProduceRequest, version: i16) -> ProduceResponse {
    let txn_id = req.transactional_id.as_ref().map(|t| t.0.to_string());
    let mut written = Vec::new();
    let mut cluster = broker.cluster.lock();
    let mut responses: Vec<TopicProduceResponse> = req
        .topic_data
        .into_iter()
        .map(|td| {
            let topic = td.name.0.to_string();
            let partition_responses = td
                .partition_data
                .into_iter()
                .map(|pd| {
                    let r = PartitionProduceResponse::default().with_index(pd.index).with_log_append_time_ms(-1);
                    let log_append = cluster.topics.get(&topic).is_some_and(|t| t.config.log_append_time());
                    let records_in = pd.records.as_ref().map_or(0, bytes::Bytes::len);
                    match produce_partition(&mut cluster, txn_id.as_deref(), &topic, pd.index, pd.records, &mut written) {
                        Ok((base, start)) => {
                            metrics::counter!("broker_produce_bytes_total").increment(records_in as u64);
                            let r = r.with_base_offset(base).with_log_start_offset(start);
                            if log_append { r.with_log_append_time_ms(now_ms()) } else { r }
                        }
                        Err(e) => {
                            tracing::debug!(topic = %topic, partition = pd.index, error = ?e.code, message = ?e.message, "produce refused");
                            let r = r.with_error_code(e.code.code()).with_base_offset(-1).with_log_start_offset(-1);
                            if version >= 8 {
                                r.with_error_message(e.message.map(super::sb)).with_record_errors(
                                    e.records
                                        .into_iter()
                                        .map(|(i, m)| {
                                            BatchIndexAndErrorMessage::default()
                                                .with_batch_index(i)
                                                .with_batch_index_error_message(Some(super::sb(m)))
                                        })
                                        .collect(),
                                )
                            } else {
                                r
                            }
                        }
                    }
                })
                .collect();
            TopicProduceResponse::default().with_name(td.name).with_partition_responses(partition_responses)
        })
        .collect();
    if let Some(store) = &broker.store
        && let Err(e) = store.persist_batches(&written)
    {
        tracing::error!(error = %e, "failed to persist produced batches");
        for t in &mut responses {
            for p in &mut t.partition_responses {
                p.error_code = ResponseError::KafkaStorageError.code();
            }
        }
    }
    drop(cluster);
    if !written.is_empty() {
        broker.data_ready.notify_waiters();
    }
    ProduceResponse::default().with_responses(responses)
}
