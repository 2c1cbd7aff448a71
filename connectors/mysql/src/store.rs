//! The SQL of the read model: one idempotent write per row kind, and the offsets table. Every
//! function runs inside the batch's transaction.

use std::collections::BTreeMap;

use sqlx::mysql::MySqlDatabaseError;
use sqlx::{MySqlConnection, Row};
use techpotli_runtime::sink::{SinkError, Tp};

use crate::rows::{HistoryRow, LineRow, OrderRow, StockRow};

/// How a failed statement is handled.
#[derive(Debug)]
pub enum WriteError {
    /// The row breaks a table constraint: dead-letter the record with this reason.
    Constraint(String),
    /// Retry (connection lost, deadlock) or stop (schema missing).
    Sink(SinkError),
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && let Some(my) = db.try_downcast_ref::<MySqlDatabaseError>()
        {
            return match my.number() {
                // Duplicate key, CHECK (MariaDB 4025, MySQL 3819), foreign key, NOT NULL,
                // data too long, out of range, incorrect value.
                1062 | 4025 | 3819 | 1451 | 1452 | 1048 | 1406 | 1264 | 1366 | 1292 => {
                    Self::Constraint(format!("constraint violation: {my}"))
                }
                // Deadlock, lock wait timeout, server shutting down, read-only (failover).
                1213 | 1205 | 1053 | 1290 | 1836 => Self::Sink(SinkError::Transient(e.to_string())),
                _ => Self::Sink(SinkError::Fatal(e.to_string())),
            };
        }
        Self::Sink(classify(e))
    }
}

/// Connection-level failures are transient; anything else is a bug or misconfiguration.
pub fn classify(e: sqlx::Error) -> SinkError {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => SinkError::Transient(e.to_string()),
        sqlx::Error::Database(_) => match WriteError::from(e) {
            WriteError::Sink(s) => s,
            WriteError::Constraint(c) => SinkError::Fatal(c),
        },
        other => SinkError::Fatal(other.to_string()),
    }
}

/// Inserts or refreshes the placed columns of an order and replaces its lines (a replay
/// writes the same rows; two lines with one SKU break `order_lines_sku`).
pub async fn upsert_order(
    c: &mut MySqlConnection,
    o: &OrderRow,
    lines: &[LineRow],
) -> Result<(), WriteError> {
    sqlx::query(
        "INSERT INTO orders (order_id, user_id, idempotency_key, cart_id, currency, subtotal_minor,
             discount_minor, shipping_minor, tax_minor, total_minor, shipping_address,
             placed_event_id, placed_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE user_id = VALUES(user_id),
             idempotency_key = VALUES(idempotency_key), cart_id = VALUES(cart_id),
             currency = VALUES(currency), subtotal_minor = VALUES(subtotal_minor),
             discount_minor = VALUES(discount_minor), shipping_minor = VALUES(shipping_minor),
             tax_minor = VALUES(tax_minor), total_minor = VALUES(total_minor),
             shipping_address = VALUES(shipping_address),
             placed_event_id = VALUES(placed_event_id), placed_at_ms = VALUES(placed_at_ms)",
    )
    .bind(&o.order_id)
    .bind(&o.user_id)
    .bind(&o.idempotency_key)
    .bind(&o.cart_id)
    .bind(&o.currency)
    .bind(o.subtotal_minor)
    .bind(o.discount_minor)
    .bind(o.shipping_minor)
    .bind(o.tax_minor)
    .bind(o.total_minor)
    .bind(&o.shipping_address)
    .bind(&o.placed_event_id)
    .bind(o.placed_at_ms)
    .execute(&mut *c)
    .await?;
    sqlx::query("DELETE FROM order_lines WHERE order_id = ?")
        .bind(&o.order_id)
        .execute(&mut *c)
        .await?;
    let mut q = sqlx::QueryBuilder::new(
        "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_minor, currency) ",
    );
    q.push_values(lines, |mut b, l| {
        b.push_bind(&o.order_id)
            .push_bind(l.line_no)
            .push_bind(&l.sku)
            .push_bind(l.quantity)
            .push_bind(l.unit_price_minor)
            .push_bind(&o.currency);
    });
    q.build().execute(&mut *c).await?;
    Ok(())
}

/// Appends a status event to the history (a replayed event_id is a no-op; another event with
/// the same (order_id, sequence) breaks `order_status_history_seq`) and moves the order's
/// current status only forward in sequence, so events applied out of order cannot regress it.
pub async fn append_status(
    c: &mut MySqlConnection,
    h: &HistoryRow,
    partition: i32,
    offset: i64,
) -> Result<(), WriteError> {
    sqlx::query(
        "INSERT INTO order_status_history (event_id, order_id, sequence, state, previous_state,
             reason, event_time_ms, total_minor, currency, source_partition, source_offset)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM DUAL
         WHERE NOT EXISTS (SELECT 1 FROM order_status_history WHERE event_id = ?)",
    )
    .bind(&h.event_id)
    .bind(&h.order_id)
    .bind(h.sequence)
    .bind(&h.state)
    .bind(&h.previous_state)
    .bind(&h.reason)
    .bind(h.event_time_ms)
    .bind(h.total_minor)
    .bind(&h.currency)
    .bind(partition)
    .bind(offset)
    .bind(&h.event_id)
    .execute(&mut *c)
    .await?;
    // MySQL evaluates the assignments left to right on the updated row: status_sequence last.
    sqlx::query(
        "INSERT INTO orders (order_id, user_id, currency, total_minor, status, status_reason,
             status_sequence, status_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE
             user_id = COALESCE(user_id, VALUES(user_id)),
             currency = COALESCE(currency, VALUES(currency)),
             total_minor = COALESCE(total_minor, VALUES(total_minor)),
             status = IF(COALESCE(status_sequence, 0) < VALUES(status_sequence), VALUES(status), status),
             status_reason = IF(COALESCE(status_sequence, 0) < VALUES(status_sequence), VALUES(status_reason), status_reason),
             status_at_ms = IF(COALESCE(status_sequence, 0) < VALUES(status_sequence), VALUES(status_at_ms), status_at_ms),
             status_sequence = GREATEST(COALESCE(status_sequence, 0), VALUES(status_sequence))",
    )
    .bind(&h.order_id)
    .bind(&h.user_id)
    .bind(&h.currency)
    .bind(h.total_minor)
    .bind(&h.state)
    .bind(&h.reason)
    .bind(h.sequence)
    .bind(h.event_time_ms)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// Sets a SKU's level (the topic is compacted and read in offset order: the last record wins).
pub async fn upsert_stock(
    c: &mut MySqlConnection,
    s: &StockRow,
    partition: i32,
    offset: i64,
) -> Result<(), WriteError> {
    sqlx::query(
        "INSERT INTO stock_levels (sku, on_hand, reserved, available, flagged, last_change,
             event_id, event_time_ms, source_partition, source_offset)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE on_hand = VALUES(on_hand), reserved = VALUES(reserved),
             available = VALUES(available), flagged = VALUES(flagged),
             last_change = VALUES(last_change), event_id = VALUES(event_id),
             event_time_ms = VALUES(event_time_ms), source_partition = VALUES(source_partition),
             source_offset = VALUES(source_offset)",
    )
    .bind(&s.sku)
    .bind(s.on_hand)
    .bind(s.reserved)
    .bind(s.available)
    .bind(s.flagged)
    .bind(&s.last_change)
    .bind(&s.event_id)
    .bind(s.event_time_ms)
    .bind(partition)
    .bind(offset)
    .execute(&mut *c)
    .await?;
    Ok(())
}

/// A compacted-topic tombstone: the SKU no longer exists.
pub async fn delete_stock(c: &mut MySqlConnection, sku: &str) -> Result<(), WriteError> {
    sqlx::query("DELETE FROM stock_levels WHERE sku = ?")
        .bind(sku)
        .execute(&mut *c)
        .await?;
    Ok(())
}

/// The stored next offsets of `sink` for `partitions`; with `lock`, the rows are locked until
/// the transaction ends, so two instances (a zombie and its successor) serialise their batches.
pub async fn offsets(
    c: &mut MySqlConnection,
    sink: &str,
    partitions: &[Tp],
    lock: bool,
) -> Result<BTreeMap<Tp, i64>, SinkError> {
    let mut out = BTreeMap::new();
    let sql = if lock {
        "SELECT next_offset FROM sink_offsets WHERE sink = ? AND topic = ? AND `partition` = ? FOR UPDATE"
    } else {
        "SELECT next_offset FROM sink_offsets WHERE sink = ? AND topic = ? AND `partition` = ?"
    };
    for (t, p) in partitions {
        let row = sqlx::query(sql)
            .bind(sink)
            .bind(t)
            .bind(p)
            .fetch_optional(&mut *c)
            .await
            .map_err(classify)?;
        if let Some(row) = row {
            out.insert((t.clone(), *p), row.try_get::<i64, _>(0).map_err(classify)?);
        }
    }
    Ok(out)
}

/// Stores the batch's next offsets (never moving one backwards).
pub async fn save_offsets(
    c: &mut MySqlConnection,
    sink: &str,
    next: &BTreeMap<Tp, i64>,
) -> Result<(), SinkError> {
    if next.is_empty() {
        return Ok(());
    }
    let mut q = sqlx::QueryBuilder::new(
        "INSERT INTO sink_offsets (sink, topic, `partition`, next_offset) ",
    );
    q.push_values(next, |mut b, ((t, p), o)| {
        b.push_bind(sink).push_bind(t).push_bind(*p).push_bind(*o);
    });
    q.push(" ON DUPLICATE KEY UPDATE next_offset = GREATEST(next_offset, VALUES(next_offset))");
    q.build().execute(&mut *c).await.map_err(classify)?;
    Ok(())
}
