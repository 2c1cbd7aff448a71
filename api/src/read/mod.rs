//! The read side of the API: views of what the sinks materialised, never of Kafka. MySQL is
//! the system of record for orders (it alone keeps the status history); Redis serves stock
//! (hot, one hash per SKU) with MySQL as the fallback, and is the fallback for orders while
//! MySQL is unreachable. Both are bounded by short timeouts so a slow store costs a request
//! a 503, not a hung connection.
//!
//! - [`views`]: the response types and the pure mappings from a Redis hash to a view.
//! - [`db`]: the MySQL queries.

pub mod db;
pub mod views;

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::mysql::{MySqlPool, MySqlPoolOptions};

use crate::store::{Store, StoreError};
use views::{CartView, OrderView, PriceView, StockView};

/// Why a store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("mysql: {0}")]
    Db(#[from] sqlx::Error),
    #[error("mysql did not answer within {0:?}")]
    DbTimeout(Duration),
    #[error(transparent)]
    Redis(#[from] StoreError),
    #[error("stored row is unreadable: {0}")]
    Corrupt(String),
}

/// The materialised views: MySQL (lazily connected) and the sinks' Redis keys.
pub struct ReadModel {
    db: MySqlPool,
    db_timeout: Duration,
    redis: Store,
}

/// What a lookup found.
pub enum Found<T> {
    Yes(T),
    /// Neither store has it (yet: sinks materialise within moments of the event).
    No,
    /// No store could be asked; the error of the last one tried.
    Unavailable(ReadError),
}

impl ReadModel {
    /// Connects lazily: the API starts (and keeps taking writes) without MySQL.
    pub fn new(
        database_url: &str,
        max_connections: u32,
        db_timeout: Duration,
        redis: Store,
    ) -> anyhow::Result<Self> {
        let db = MySqlPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(0)
            .acquire_timeout(db_timeout)
            .connect_lazy(database_url)
            .map_err(|e| anyhow::anyhow!("invalid setting DATABASE_URL: {e}"))?;
        Ok(Self {
            db,
            db_timeout,
            redis,
        })
    }

    async fn bounded<T>(
        &self,
        f: impl Future<Output = Result<T, ReadError>>,
    ) -> Result<T, ReadError> {
        tokio::time::timeout(self.db_timeout, f)
            .await
            .unwrap_or(Err(ReadError::DbTimeout(self.db_timeout)))
    }

    async fn hash(&self, suffix: &str) -> Result<BTreeMap<String, String>, ReadError> {
        let key = self.redis.key(suffix);
        Ok(self
            .redis
            .run(|mut c| async move { redis::AsyncCommands::hgetall(&mut c, key).await })
            .await?)
    }

    /// An order with its lines and history from MySQL; from Redis (without history) when
    /// MySQL cannot answer or has not materialised it yet.
    pub async fn order(&self, order_id: &str) -> Found<OrderView> {
        let primary = self.bounded(db::order(&self.db, order_id)).await;
        if let Ok(Some(v)) = primary {
            return Found::Yes(v);
        }
        if let Err(e) = &primary {
            tracing::warn!(error = %e, "order read from mysql failed; trying redis");
            metrics::counter!("api_read_fallback_total", "view" => "order").increment(1);
        }
        match self.hash(&views::order_key(order_id)).await {
            Ok(h) if h.is_empty() => match primary {
                Err(e) => Found::Unavailable(e),
                Ok(_) => Found::No,
            },
            Ok(h) => views::order_from_hash(&h)
                .map_or_else(|e| Found::Unavailable(ReadError::Corrupt(e)), Found::Yes),
            Err(e) => match primary {
                Ok(_) => Found::No,
                Err(_) => Found::Unavailable(e),
            },
        }
    }

    /// A SKU's stock level from Redis, or from MySQL when Redis cannot answer or lacks it.
    pub async fn stock(&self, sku: &str) -> Found<StockView> {
        let hot = self.hash(&views::stock_key(sku)).await;
        match &hot {
            Ok(h) if !h.is_empty() => {
                return views::stock_from_hash(h)
                    .map_or_else(|e| Found::Unavailable(ReadError::Corrupt(e)), Found::Yes);
            }
            Err(e) => {
                tracing::warn!(error = %e, "stock read from redis failed; trying mysql");
                metrics::counter!("api_read_fallback_total", "view" => "stock").increment(1);
            }
            Ok(_) => {}
        }
        match self.bounded(db::stock(&self.db, sku)).await {
            Ok(Some(v)) => Found::Yes(v),
            Ok(None) => Found::No,
            Err(e) => Found::Unavailable(e),
        }
    }

    /// Current prices of `skus` (absent: no price — unknown or not for sale): from Redis, and
    /// from MySQL for what Redis lacks or when it cannot answer. `Err` when neither store
    /// could say (a missing price is then not known to be missing).
    pub async fn prices(&self, skus: &[&str]) -> Result<BTreeMap<String, PriceView>, ReadError> {
        let keys: Vec<String> = skus
            .iter()
            .map(|s| self.redis.key(&views::price_key(s)))
            .collect();
        let hot: Result<Vec<BTreeMap<String, String>>, _> = self
            .redis
            .run(|mut c| {
                let mut pipe = redis::pipe();
                for k in &keys {
                    pipe.hgetall(k);
                }
                async move { pipe.query_async(&mut c).await }
            })
            .await;
        let mut found = BTreeMap::new();
        match hot {
            Ok(hashes) => {
                for h in hashes.iter().filter(|h| !h.is_empty()) {
                    let v = views::price_from_hash(h).map_err(ReadError::Corrupt)?;
                    found.insert(v.sku.clone(), v);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "price read from redis failed; trying mysql");
                metrics::counter!("api_read_fallback_total", "view" => "price").increment(1);
            }
        }
        let missing: Vec<&str> = skus
            .iter()
            .copied()
            .filter(|s| !found.contains_key(*s))
            .collect();
        if !missing.is_empty() {
            for v in self.bounded(db::prices(&self.db, &missing)).await? {
                found.insert(v.sku.clone(), v);
            }
        }
        Ok(found)
    }

    /// A cart at current prices, from Redis (the only store that keeps carts).
    pub async fn cart(&self, cart_id: &str) -> Found<CartView> {
        match self.hash(&views::cart_key(cart_id)).await {
            Ok(h) if h.is_empty() => Found::No,
            Ok(h) => views::cart_from_hash(&h)
                .map_or_else(|e| Found::Unavailable(ReadError::Corrupt(e)), Found::Yes),
            Err(e) => Found::Unavailable(e),
        }
    }

    /// A SKU's current price.
    pub async fn price(&self, sku: &str) -> Found<PriceView> {
        match self.prices(&[sku]).await {
            Ok(mut m) => m.remove(sku).map_or(Found::No, Found::Yes),
            Err(e) => Found::Unavailable(e),
        }
    }

    /// Closes the pool (graceful shutdown).
    pub async fn close(&self) {
        self.db.close().await;
    }
}
