//! DeleteRecords: moves a partition's log start offset forward (records before it are no
//! longer readable; whole batches below it are dropped, on disk too).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::broker::Broker;

/// Kafka's "up to the high watermark" offset.
const HIGH_WATERMARK: i64 = -1;

pub fn delete(broker: &Broker, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut cluster = broker.cluster.lock();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = t.name.0.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let r = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    let Some(log) = cluster.partition_mut(&topic, p.partition_index) else {
                        return r.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let hw = log.high_watermark();
                    let offset = if p.offset == HIGH_WATERMARK { hw } else { p.offset };
                    if offset < 0 || offset > hw {
                        return r.with_error_code(ResponseError::OffsetOutOfRange.code());
                    }
                    if offset > log.log_start() {
                        log.truncate_front(offset);
                        if let Some(store) = &broker.store {
                            store.truncate_front(&topic, p.partition_index, log.log_start());
                        }
                        tracing::info!(%topic, partition = p.partition_index, log_start = log.log_start(), "records deleted");
                    }
                    r.with_low_watermark(log.log_start())
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
