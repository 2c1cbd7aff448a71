//! [`MySqlSink`]: a batch is one transaction holding its rows and its `sink_offsets`, so after a
//! crash the database is exactly "everything before the stored offsets". A batch is written
//! in a few multi-row statements; only when one fails on a constraint is it redone record by
//! record (a savepoint each) to find and dead-letter the bad records.

use std::collections::{BTreeMap, HashMap};
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
use techpotli_schemas::types::pricing::PriceChanged;

use crate::store::{self, WriteError, classify};
use crate::{Topics, rows};

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
        crate::migrate::run(database_url).await?;
        Ok(Self {
            pool,
            codec,
            name: name.to_owned(),
            topics,
            tx: None,
        })
    }

    /// What `batch[i]` writes, or its reject (undecodable, broken invariant).
    async fn map(&self, batch: &[InputRecord], i: usize) -> Result<Result<Op, Reject>, SinkError> {
        let r = &batch[i];
        let m = &r.meta;
        let invariant = |reason: String| Reject {
            index: i,
            class: "invariant".into(),
            reason,
        };
        Ok(if m.topic == self.topics.placed {
            match decode::<OrderPlaced>(&self.codec, batch, i).await? {
                Ok(o) => rows::placed(&o)
                    .map(|(row, lines)| Op::Placed(row, lines))
                    .map_err(invariant),
                Err(r) => Err(r),
            }
        } else if m.topic == self.topics.status {
            match decode::<OrderStatusChanged>(&self.codec, batch, i).await? {
                Ok(s) => rows::status(&s)
                    .map(|h| Op::Status(h, m.partition, m.offset))
                    .map_err(invariant),
                Err(r) => Err(r),
            }
        } else if m.topic == self.topics.levels {
            if r.value.is_none() {
                let sku = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default());
                Ok(Op::DeleteStock(sku.into_owned()))
            } else {
                decode::<StockLevel>(&self.codec, batch, i)
                    .await?
                    .map(|l| Op::Stock(rows::stock(&l), m.partition, m.offset))
            }
        } else if m.topic == self.topics.prices {
            if r.value.is_none() {
                let sku = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default());
                Ok(Op::DeletePrice(sku.into_owned()))
            } else {
                match decode::<PriceChanged>(&self.codec, batch, i).await? {
                    Ok(p) => rows::price(&p)
                        .map(|row| Op::Price(row, m.partition, m.offset))
                        .map_err(invariant),
                    Err(r) => Err(r),
                }
            }
        } else {
            return Err(SinkError::Fatal(format!(
                "no mapping for topic {}",
                m.topic
            )));
        })
    }

    /// Begins the batch's transaction and reads (locking) the stored offsets of its partitions.
    async fn begin(
        &self,
        parts: &[Tp],
    ) -> Result<(Transaction<'static, MySql>, BTreeMap<Tp, i64>), SinkError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        // Locked: a zombie's late batch waits for ours and then skips what we applied.
        let stored = store::offsets(&mut tx, &self.name, parts, true).await?;
        Ok((tx, stored))
    }
}

/// One record's write.
enum Op {
    Placed(rows::OrderRow, Vec<rows::LineRow>),
    Status(rows::HistoryRow, i32, i64),
    Stock(rows::StockRow, i32, i64),
    DeleteStock(String),
    Price(rows::PriceRow, i32, i64),
    DeletePrice(String),
}

impl Op {
    /// A tombstone: deletes run record by record, in order with the upserts around them.
    fn is_delete(&self) -> bool {
        matches!(self, Self::DeleteStock(_) | Self::DeletePrice(_))
    }
}

/// All ops in a few multi-row statements (the common case). A constraint violation anywhere
/// fails the whole call: the caller then redoes the batch record by record.
async fn write_all(
    tx: &mut Transaction<'static, MySql>,
    ops: &[(usize, Op)],
) -> Result<(), WriteError> {
    let mut placed = Vec::new();
    let mut statuses = Vec::new();
    let mut stock = Vec::new();
    let mut prices = Vec::new();
    for (_, op) in ops {
        match op {
            Op::Placed(o, l) => placed.push((o, l.as_slice())),
            Op::Status(h, p, o) => statuses.push((h, *p, *o)),
            Op::Stock(s, p, o) => stock.push((s, *p, *o)),
            Op::Price(r, p, o) => prices.push((r, *p, *o)),
            Op::DeleteStock(_) | Op::DeletePrice(_) => {
                unreachable!("batches with tombstones take the per-record path")
            }
        }
    }
    if !placed.is_empty() {
        store::upsert_orders(tx, &placed).await?;
    }
    if !statuses.is_empty() {
        store::append_statuses(tx, &statuses).await?;
    }
    if !stock.is_empty() {
        store::upsert_stock(tx, &stock).await?;
    }
    if !prices.is_empty() {
        store::upsert_prices(tx, &prices).await?;
    }
    Ok(())
}

/// One op, inside a savepoint so a rejected record leaves nothing behind.
async fn write_one(tx: &mut Transaction<'static, MySql>, op: &Op) -> Result<(), WriteError> {
    exec(tx, "SAVEPOINT rec").await.map_err(WriteError::Sink)?;
    let r = match op {
        Op::Placed(o, l) => store::upsert_orders(tx, &[(o, l.as_slice())]).await,
        Op::Status(h, p, o) => store::append_statuses(tx, &[(h, *p, *o)]).await,
        Op::Stock(s, p, o) => store::upsert_stock(tx, &[(s, *p, *o)]).await,
        Op::DeleteStock(sku) => store::delete_stock(tx, sku).await,
        Op::Price(r, p, o) => store::upsert_prices(tx, &[(r, *p, *o)]).await,
        Op::DeletePrice(sku) => store::delete_price(tx, sku).await,
    };
    if r.is_err() {
        exec(tx, "ROLLBACK TO SAVEPOINT rec")
            .await
            .map_err(WriteError::Sink)?;
    }
    r
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
        let next = next_offsets(batch);
        let parts: Vec<Tp> = next.keys().cloned().collect();
        let (mut tx, stored) = self.begin(&parts).await?;
        let mut ops = Vec::new();
        let mut rejects = Vec::new();
        for (i, r) in batch.iter().enumerate() {
            let tp = (r.meta.topic.clone(), r.meta.partition);
            if stored.get(&tp).is_some_and(|s| r.meta.offset < *s) {
                continue;
            }
            match self.map(batch, i).await? {
                Ok(op) => ops.push((i, op)),
                Err(reject) => rejects.push(reject),
            }
        }
        let bulk = !ops.iter().any(|(_, op)| op.is_delete());
        let fast = if bulk {
            write_all(&mut tx, &ops).await
        } else {
            Err(WriteError::Constraint(String::new()))
        };
        match fast {
            Ok(()) => {}
            Err(WriteError::Sink(e)) => return Err(e),
            Err(WriteError::Constraint(_)) => {
                // Some record is bad (or a tombstone needs ordering): start over, one
                // savepoint per record, and dead-letter the ones that fail.
                tx.rollback().await.map_err(classify)?;
                let (again, _) = self.begin(&parts).await?;
                tx = again;
                for (i, op) in &ops {
                    match write_one(&mut tx, op).await {
                        Ok(()) => {}
                        Err(WriteError::Constraint(reason)) => rejects.push(Reject {
                            index: *i,
                            class: "constraint".into(),
                            reason,
                        }),
                        Err(WriteError::Sink(e)) => return Err(e),
                    }
                }
                rejects.sort_by_key(|r| r.index);
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
