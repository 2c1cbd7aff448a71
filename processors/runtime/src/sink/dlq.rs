//! Dead letters of a sink: the records it cannot apply, produced to `<topic>.dlq` with the
//! runtime's `dlq.*` headers and acknowledged (acks=all, idempotent) before the batch commits,
//! so none is lost; a crash between the two produces them again.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::Reject;
use super::config::DLQ_TIMEOUT;
use crate::changelog::dlq_topic;
use crate::{InputRecord, RuntimeError};

pub(crate) struct DeadLetters {
    producer: BaseProducer,
    /// The `dlq.app` header.
    app: String,
}

impl DeadLetters {
    pub(crate) fn new(bootstrap: &str, app: &str) -> Result<Self, RuntimeError> {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .create()?;
        Ok(Self {
            producer,
            app: app.to_owned(),
        })
    }

    /// Produces `rejects` to their DLQ topics and waits for the acknowledgements.
    pub(crate) fn send(&self, batch: &[InputRecord], rejects: &[Reject]) -> Result<(), String> {
        for r in rejects {
            let rec = &batch[r.index];
            let m = &rec.meta;
            let headers = crate::txn::dlq_headers(
                &r.class,
                &r.reason,
                &m.topic,
                m.partition,
                m.offset,
                &self.app,
                &m.headers,
            );
            let topic = dlq_topic(&m.topic);
            let mut out: BaseRecord<'_, [u8], [u8]> =
                BaseRecord::to(&topic).headers(owned(&headers));
            if let Some(k) = &rec.key {
                out = out.key(k.as_slice());
            }
            if let Some(v) = &rec.value {
                out = out.payload(v.as_slice());
            }
            loop {
                match self.producer.send(out) {
                    Ok(()) => break,
                    Err((e, back)) => {
                        tracing::debug!(error = %e, "dlq queue full");
                        out = back;
                        self.producer.poll(Duration::from_millis(5));
                    }
                }
            }
            tracing::warn!(topic = %m.topic, partition = m.partition, offset = m.offset, class = %r.class, reason = %r.reason, "dead-lettered");
        }
        if rejects.is_empty() {
            return Ok(());
        }
        self.producer.flush(DLQ_TIMEOUT).map_err(|e| e.to_string())
    }
}

fn owned(headers: &crate::Headers) -> rdkafka::message::OwnedHeaders {
    headers
        .iter()
        .fold(rdkafka::message::OwnedHeaders::new(), |h, (k, v)| {
            h.insert(rdkafka::message::Header {
                key: k,
                value: Some(v),
            })
        })
}
