//! [`MySqlSink`]: a batch is one transaction holding its rows and its `sink_offsets`, so after a
//! crash the database is exactly "everything before the stored offsets".

use std::collections::HashMap;
use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};
use sqlx::{MySql, Transaction};
use techpotli_runtime::InputRecord;
use techpotli_runtime::sink::decode::decode;
use techpotli_runtime::sink::{Reject, Sink, SinkError, Tp, next_offsets};
use techpotli_schemas::Codec;
use techpotli_schemas::types::inventory::StockLevel;
use techpotli_schemas::types::orders::{OrderPlaced, OrderStatusChanged};

use crate::store::{self, WriteError, classify};
use crate::{Topics, rows};

/// The versioned migrations in `connectors/mysql/migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connections the sink keeps: one writes, one spare for the offsets read on assignment.
const POOL_SIZE: u32 = 2;
/// How long to wait for a connection before the batch counts as failed (and is retried).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The MySQL/MariaDB sink of the order flow.
pub struct MySqlSink {
    pool: MySqlPool,
    codec: Codec,
    /// The `sink` column of `sink_offsets`: the consumer group, so two sinks may share a DB.
    name: String,
    topics: Topics,
    tx: Option<Transaction<'static, MySql>>,
}

impl MySqlSink {
    /// Connects (creating the database if missing) and applies pending migrations.
    pub async fn connect(
        database_url: &str,
        name: &str,
        topics: Topics,
        codec: Codec,
    ) -> Result<Self, SinkError> {
        if !MySql::database_exists(database_url)
            .await
            .map_err(classify)?
        {
            MySql::create_database(database_url)
                .await
                .map_err(classify)?;
        }
        let pool = MySqlPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(database_url)
            .await
            .map_err(classify)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| SinkError::Fatal(format!("migrations: {e}")))?;
        Ok(Self {
            pool,
            codec,
            name: name.to_owned(),
            topics,
            tx: None,
        })
    }

    /// Applies `batch[i]` on `tx`: `Ok(Some(reject))` for a record to dead-letter.
    async fn apply_one(
        &self,
        tx: &mut Transaction<'static, MySql>,
        batch: &[InputRecord],
        i: usize,
    ) -> Result<Option<Reject>, SinkError> {
        let m = &batch[i].meta;
        let reject = |class: &str, reason: String| Reject {
            index: i,
            class: class.into(),
            reason,
        };
        let written = if m.topic == self.topics.placed {
            match decode::<OrderPlaced>(&self.codec, batch, i).await? {
                Err(r) => return Ok(Some(r)),
                Ok(o) => match rows::placed(&o) {
                    Err(e) => return Ok(Some(reject("invariant", e))),
                    Ok((row, lines)) => store::upsert_order(tx, &row, &lines).await,
                },
            }
        } else if m.topic == self.topics.status {
            match decode::<OrderStatusChanged>(&self.codec, batch, i).await? {
                Err(r) => return Ok(Some(r)),
                Ok(s) => match rows::status(&s) {
                    Err(e) => return Ok(Some(reject("invariant", e))),
                    Ok(h) => store::append_status(tx, &h, m.partition, m.offset).await,
                },
            }
        } else if m.topic == self.topics.levels {
            if batch[i].value.is_none() {
                let sku = String::from_utf8_lossy(batch[i].key.as_deref().unwrap_or_default());
                store::delete_stock(tx, &sku).await
            } else {
                match decode::<StockLevel>(&self.codec, batch, i).await? {
                    Err(r) => return Ok(Some(r)),
                    Ok(l) => store::upsert_stock(tx, &rows::stock(&l), m.partition, m.offset).await,
                }
            }
        } else {
            return Err(SinkError::Fatal(format!(
                "no mapping for topic {}",
                m.topic
            )));
        };
        match written {
            Ok(()) => Ok(None),
            Err(WriteError::Constraint(e)) => Ok(Some(reject("constraint", e))),
            Err(WriteError::Sink(e)) => Err(e),
        }
    }
}

async fn exec(tx: &mut Transaction<'static, MySql>, sql: &'static str) -> Result<(), SinkError> {
    sqlx::query(sql)
        .execute(&mut **tx)
        .await
        .map_err(classify)?;
    Ok(())
}

impl Sink for MySqlSink {
    async fn stored_offsets(&mut self, partitions: &[Tp]) -> Result<HashMap<Tp, i64>, SinkError> {
        let mut c = self.pool.acquire().await.map_err(classify)?;
        let o = store::offsets(&mut c, &self.name, partitions, false).await?;
        Ok(o.into_iter().collect())
    }

    async fn stage(&mut self, batch: &[InputRecord]) -> Result<Vec<Reject>, SinkError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let next = next_offsets(batch);
        let parts: Vec<Tp> = next.keys().cloned().collect();
        // Locked: a zombie's late batch waits for ours and then skips what we applied.
        let stored = store::offsets(&mut tx, &self.name, &parts, true).await?;
        let mut rejects = Vec::new();
        for (i, r) in batch.iter().enumerate() {
            let tp = (r.meta.topic.clone(), r.meta.partition);
            if stored.get(&tp).is_some_and(|s| r.meta.offset < *s) {
                continue;
            }
            // A record's statements stand or fall together.
            exec(&mut tx, "SAVEPOINT rec").await?;
            if let Some(reject) = self.apply_one(&mut tx, batch, i).await? {
                exec(&mut tx, "ROLLBACK TO SAVEPOINT rec").await?;
                rejects.push(reject);
            }
        }
        store::save_offsets(&mut tx, &self.name, &next).await?;
        self.tx = Some(tx);
        Ok(rejects)
    }

    async fn commit(&mut self) -> Result<(), SinkError> {
        match self.tx.take() {
            Some(tx) => tx.commit().await.map_err(classify),
            None => Ok(()),
        }
    }

    async fn rollback(&mut self) {
        if let Some(tx) = self.tx.take()
            && let Err(e) = tx.rollback().await
        {
            tracing::warn!(error = %e, "rollback");
        }
    }
}
