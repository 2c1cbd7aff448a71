//! Transactional producing: error classification and the record-building helpers, kept apart
//! from the loop so the loop reads as the protocol (begin → process → offsets → commit).

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::RuntimeError;
use crate::processor::Headers;

pub(crate) type TxnProducer = ThreadedProducer<DefaultProducerContext>;

/// How a failed transactional call must be handled (librdkafka's error flags).
#[derive(Debug)]
pub(crate) enum Failure {
    /// `txn_requires_abort`: abort, rewind, reprocess.
    Abortable(KafkaError),
    /// The processor hit a retriable error: abort, rewind, back off, reprocess.
    Retry(String),
    /// Anything else (fenced, fatal, misconfigured, a failing processor): the instance must
    /// exit.
    Fatal(RuntimeError),
}

impl Failure {
    pub(crate) fn classify(producer: &TxnProducer, e: KafkaError) -> Self {
        if let KafkaError::Transaction(re) = &e {
            if re.txn_requires_abort() && !re.is_fatal() {
                return Self::Abortable(e);
            }
            return Self::Fatal(RuntimeError::Fatal(e));
        }
        // A failed `send` says little by itself; the producer knows whether it is fatal
        // (fenced) or only the transaction is broken.
        if producer.client().fatal_error().is_some() {
            Self::Fatal(RuntimeError::Fatal(e))
        } else {
            Self::Abortable(e)
        }
    }
}

/// How long a retriable transactional call is retried: a cluster failing over (a leader or the
/// transaction coordinator moving, a quorum re-forming) is a pause, not an end. Kafka Streams'
/// `task.timeout.ms` has the same default.
const RETRY_FOR: Duration = Duration::from_mins(5);

/// Runs a blocking transactional call, retrying while librdkafka says it is retriable, for up
/// to [`RETRY_FOR`], backing off up to 1 s.
pub(crate) fn call<T>(
    producer: &TxnProducer,
    mut f: impl FnMut() -> Result<T, KafkaError>,
) -> Result<T, Failure> {
    let deadline = std::time::Instant::now() + RETRY_FOR;
    let mut attempts = 0u32;
    loop {
        match f() {
            Err(KafkaError::Transaction(re))
                if re.is_retriable() && std::time::Instant::now() < deadline =>
            {
                attempts += 1;
                tracing::warn!(error = %re, attempts, "retriable transaction error, retrying");
                std::thread::sleep(Duration::from_millis(100 * u64::from(attempts.min(10))));
            }
            Err(e) => return Err(Failure::classify(producer, e)),
            Ok(v) => return Ok(v),
        }
    }
}

/// Waits until every queued record is delivered (or `timeout` passes), so that the flush
/// rdkafka's `commit_transaction` does first finds nothing to wait for. With a
/// `ThreadedProducer` that flush would otherwise sleep in `poll(100 ms)` for delivery reports
/// the producer's own polling thread has already taken: 100 ms added to every commit.
pub(crate) fn drain(producer: &TxnProducer, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    while producer.in_flight_count() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Queues one record in the open transaction, waiting while the local queue is full.
pub(crate) fn send(
    producer: &TxnProducer,
    topic: &str,
    partition: Option<i32>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &Headers,
    timestamp: Option<i64>,
) -> Result<(), Failure> {
    let mut rec: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
    if let Some(ts) = timestamp {
        rec = rec.timestamp(ts);
    }
    if let Some(p) = partition {
        rec = rec.partition(p);
    }
    if let Some(k) = key {
        rec = rec.key(k);
    }
    if let Some(v) = value {
        rec = rec.payload(v);
    }
    if !headers.is_empty() {
        rec = rec.headers(owned_headers(headers));
    }
    loop {
        match producer.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                rec = r;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err((e, _)) => return Err(Failure::classify(producer, e)),
        }
    }
}

fn owned_headers(headers: &Headers) -> OwnedHeaders {
    headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
        h.insert(Header {
            key: k,
            value: Some(v),
        })
    })
}

/// The DLQ headers: why the record failed and where it came from.
pub(crate) fn dlq_headers(
    class: &str,
    message: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    app: &str,
    original: &Headers,
) -> Headers {
    let mut h: Headers = original.clone();
    for (k, v) in [
        ("dlq.error.class", class.to_owned()),
        ("dlq.error.message", message.to_owned()),
        ("dlq.source.topic", topic.to_owned()),
        ("dlq.source.partition", partition.to_string()),
        ("dlq.source.offset", offset.to_string()),
        ("dlq.app", app.to_owned()),
    ] {
        h.push((k.to_owned(), v.into_bytes()));
    }
    h
}
