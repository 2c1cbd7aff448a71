//! The API's Redis: rate-limit buckets and idempotency keys. Redis is a soft dependency: every
//! call is bounded by a short timeout, and after a failure calls fail fast for a second (a
//! small circuit breaker) so a dead Redis costs requests nothing but the fail-open path.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long calls fail fast after a Redis error.
const OPEN_CIRCUIT: Duration = Duration::from_secs(1);

/// Why a Redis call did not happen or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis is marked down after a recent failure")]
    CircuitOpen,
}

/// A cheap-to-clone handle on Redis with a key prefix.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
    down_until: Arc<Mutex<Option<Instant>>>,
}

impl Store {
    /// Connects lazily: start-up never waits for (or fails on) Redis.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("invalid setting REDIS_URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = client.get_connection_manager_lazy(config)?;
        Ok(Self {
            conn,
            prefix: prefix.into(),
            timeout,
            down_until: Arc::default(),
        })
    }

    /// The same connection under another key prefix (the sinks' keys, read by the API).
    pub fn with_prefix(&self, prefix: &str) -> Self {
        Self {
            prefix: prefix.into(),
            ..self.clone()
        }
    }

    /// `prefix` + `suffix`.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// Runs `f` on a connection, bounded by the timeout and the circuit breaker.
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self.down_until.lock().is_some_and(|t| Instant::now() < t) {
            return Err(StoreError::CircuitOpen);
        }
        let result = match tokio::time::timeout(self.timeout, f(self.conn.clone())).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => StoreError::Redis(e),
            Err(_) => StoreError::Timeout(self.timeout),
        };
        *self.down_until.lock() = Some(Instant::now() + OPEN_CIRCUIT);
        Err(result)
    }
}
