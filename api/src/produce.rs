//! The one place that writes to Kafka: an idempotent producer (`acks=all`,
//! `partitioner=murmur2_random`, the Java client's key hashing) whose [`Producer::send`]
//! returns only once the broker acknowledged the record, or fails once the configured deadline
//! passed — so a handler answers 2xx only for an acknowledged record.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::util::Timeout;
use serde::Serialize;
use techpotli_schemas::AvroRecord;
use techpotli_schemas::codec::Codec;
use techpotli_telemetry::TraceParent;
use techpotli_topics::typed::{self, Topic};
use uuid::Uuid;

use crate::config::Config;
use crate::problem::Problem;

/// Kafka header carrying the producing application.
pub const APP_HEADER: &str = "app";
/// Kafka header carrying the record's event id.
pub const EVENT_ID_HEADER: &str = "event_id";

/// What goes into the headers of a record besides the payload.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub event_id: Uuid,
    pub trace: TraceParent,
}

impl Meta {
    /// A fresh UUIDv7 event id within `trace`.
    pub fn new(trace: TraceParent) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            trace,
        }
    }
}

/// Why a record was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    /// The broker did not acknowledge within the deadline (down, unreachable, overloaded).
    #[error("broker did not acknowledge {topic} within {deadline:?}: {reason}")]
    Unavailable {
        topic: &'static str,
        deadline: Duration,
        reason: String,
    },
    /// The record could not be encoded (registry unreachable, schema missing).
    #[error("encoding for {topic}: {reason}")]
    Encode { topic: &'static str, reason: String },
}

impl ProduceError {
    /// The answer: 503 + Retry-After; nothing was acknowledged, so retrying is safe.
    pub fn problem(&self, retry_after_secs: u64) -> Problem {
        tracing::warn!(error = %self, "record not acknowledged");
        match self {
            Self::Unavailable { .. } => Problem::unavailable(
                "the event could not be stored right now; retry later",
                retry_after_secs,
            ),
            Self::Encode { .. } => Problem::unavailable(
                "the event could not be encoded right now (schema registry); retry later",
                retry_after_secs,
            ),
        }
    }
}

/// Producer + codec, cheap to clone.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
    codec: Codec,
    app: Arc<str>,
    deadline: Duration,
    ready: Arc<AtomicBool>,
}

impl Producer {
    /// Creates the producer (connects lazily) and the codec.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let inner: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &config.kafka_bootstrap)
            .set("client.id", &config.app_name)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", config.producer_linger_ms.to_string())
            // lz4: cheap for the small, frequent batches of a request-driven producer (zstd
            // spent more CPU setting up contexts than compressing).
            .set("compression.type", "lz4")
            .set("message.timeout.ms", config.produce_timeout_ms.to_string())
            .set(
                "request.timeout.ms",
                config.produce_timeout_ms.min(30_000).to_string(),
            )
            .set("reconnect.backoff.max.ms", "1000")
            .create()
            .map_err(|e| anyhow::anyhow!("kafka producer (KAFKA_BOOTSTRAP): {e}"))?;
        let codec =
            Codec::new(&config.schema_registry_url).with_auto_register(config.schema_auto_register);
        Ok(Self {
            inner,
            codec,
            app: config.app_name.as_str().into(),
            deadline: config.produce_timeout(),
            ready: Arc::default(),
        })
    }

    /// Looks up (or, with auto-registration, registers) the schema id of every topic the API
    /// writes, so a missing schema stops start-up instead of failing requests.
    pub async fn preflight(&self) -> anyhow::Result<()> {
        async fn one<T: AvroRecord>(c: &Codec, t: Topic<T>) -> anyhow::Result<()> {
            c.schema_id::<T>(t.name())
                .await
                .map(drop)
                .map_err(|e| anyhow::anyhow!("schema for {}: {e}", t.name()))
        }
        let c = &self.codec;
        one(c, typed::CATALOG_PRODUCTS).await?;
        one(c, typed::CATALOG_PRICE_RULES).await?;
        one(c, typed::CUSTOMERS_PROFILES).await?;
        one(c, typed::INVENTORY_ADJUSTMENTS).await?;
        one(c, typed::STOREFRONT_ACTIVITY).await?;
        one(c, typed::CARTS_EVENTS).await?;
        one(c, typed::ORDERS_PLACED).await?;
        one(c, typed::PAYMENTS_EVENTS).await?;
        Ok(())
    }

    /// Encodes `value` (or a tombstone for `None`) and waits for the broker's acknowledgement.
    pub async fn send<T: AvroRecord + Serialize>(
        &self,
        topic: Topic<T>,
        key: &str,
        value: Option<&T>,
        meta: &Meta,
    ) -> Result<(), ProduceError> {
        let name = topic.name();
        let payload = match value {
            Some(v) => {
                Some(
                    self.codec
                        .encode(name, v)
                        .await
                        .map_err(|e| ProduceError::Encode {
                            topic: name,
                            reason: e.to_string(),
                        })?,
                )
            }
            None => None,
        };
        let trace = meta.trace.to_string();
        let event_id = meta.event_id.to_string();
        let headers = OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: techpotli_telemetry::trace::HEADER,
                value: Some(trace.as_bytes()),
            })
            .insert(Header {
                key: EVENT_ID_HEADER,
                value: Some(event_id.as_bytes()),
            })
            .insert(Header {
                key: APP_HEADER,
                value: Some(self.app.as_bytes()),
            });
        let mut record = FutureRecord::to(name).key(key).headers(headers);
        if let Some(p) = &payload {
            record = record.payload(p);
        }
        let started = Instant::now();
        // librdkafka fails the record at message.timeout.ms (= the deadline); the outer timeout
        // only guards against a lost delivery report.
        let sent = tokio::time::timeout(
            self.deadline + Duration::from_secs(1),
            self.inner.send(record, Timeout::After(self.deadline)),
        )
        .await;
        let outcome = match &sent {
            Ok(Ok(_)) => "acked",
            _ => "failed",
        };
        metrics::histogram!("api_produce_duration_seconds", "topic" => name, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        match sent {
            Ok(Ok(_)) => {
                self.ready.store(true, Ordering::Relaxed);
                Ok(())
            }
            Ok(Err((e, _))) => Err(ProduceError::Unavailable {
                topic: name,
                deadline: self.deadline,
                reason: describe(&e),
            }),
            Err(_) => Err(ProduceError::Unavailable {
                topic: name,
                deadline: self.deadline,
                reason: "no delivery report".to_owned(),
            }),
        }
    }

    /// Whether the last metadata probe reached the broker (for `/readyz`).
    pub fn ready_flag(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    /// Probes broker metadata every `every` until the returned task is aborted.
    pub fn spawn_readiness_probe(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let p = self.inner.clone();
        let ready = self.ready.clone();
        tokio::spawn(async move {
            loop {
                let probe = p.clone();
                let ok = tokio::task::spawn_blocking(move || {
                    probe
                        .client()
                        .fetch_metadata(None, Duration::from_secs(2))
                        .is_ok_and(|m| !m.brokers().is_empty())
                })
                .await
                .unwrap_or(false);
                if ready.swap(ok, Ordering::Relaxed) != ok {
                    tracing::info!(ready = ok, "broker readiness changed");
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Waits until everything queued is acknowledged or `timeout` passes (shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.inner.flush(Timeout::After(timeout)) {
            tracing::error!(error = %e, "producer flush on shutdown failed");
        }
    }
}

fn describe(e: &KafkaError) -> String {
    e.rdkafka_error_code()
        .map_or_else(|| e.to_string(), |c| format!("{c:?}: {e}"))
}
