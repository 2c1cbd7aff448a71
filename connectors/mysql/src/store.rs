//! The SQL of the read model: one idempotent multi-row write per row kind, and the offsets
//! table. Every function runs inside the batch's transaction; the per-record path calls the
//! same functions with one row.

use std::collections::BTreeMap;

use sqlx::mysql::MySqlDatabaseError;
use sqlx::{MySqlConnection, Row};
use techpotli_runtime::sink::{SinkError, Tp};

use crate::rows::{HistoryRow, LineRow, OrderRow, PriceRow, StockRow};

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

/// Rows per multi-row statement (MySQL allows 65,535 placeholders per statement).
const ROWS_PER_STATEMENT: usize = 1000;

/// Inserts or refreshes the placed columns of orders and replaces their lines (a replay writes
/// the same rows; two lines with one SKU break `order_lines_sku`). One order at most once per
/// call: a second copy's lines would collide with the first's.
pub async fn upsert_orders(
    c: &mut MySqlConnection,
    orders: &[(&OrderRow, &[LineRow])],
) -> Result<(), WriteError> {
    for chunk in orders.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO orders (order_id, user_id, idempotency_key, cart_id, currency,
                 subtotal_minor, discount_minor, shipping_minor, tax_minor, total_minor,
                 shipping_address, placed_event_id, placed_at_ms) ",
        );
        q.push_values(chunk, |mut b, (o, _)| {
            b.push_bind(&o.order_id)
                .push_bind(&o.user_id)
                .push_bind(&o.idempotency_key)
                .push_bind(&o.cart_id)
                .push_bind(&o.currency)
                .push_bind(o.subtotal_minor)
                .push_bind(o.discount_minor)
                .push_bind(o.shipping_minor)
                .push_bind(o.tax_minor)
                .push_bind(o.total_minor)
                .push_bind(&o.shipping_address)
                .push_bind(&o.placed_event_id)
                .push_bind(o.placed_at_ms);
        });
        q.push(
            " ON DUPLICATE KEY UPDATE user_id = VALUES(user_id),
             idempotency_key = VALUES(idempotency_key), cart_id = VALUES(cart_id),
             currency = VALUES(currency), subtotal_minor = VALUES(subtotal_minor),
             discount_minor = VALUES(discount_minor), shipping_minor = VALUES(shipping_minor),
             tax_minor = VALUES(tax_minor), total_minor = VALUES(total_minor),
             shipping_address = VALUES(shipping_address),
             placed_event_id = VALUES(placed_event_id), placed_at_ms = VALUES(placed_at_ms)",
        );
        q.build().execute(&mut *c).await?;
        let mut d = sqlx::QueryBuilder::new("DELETE FROM order_lines WHERE order_id IN (");
        let mut ids = d.separated(", ");
        for (o, _) in chunk {
            ids.push_bind(&o.order_id);
        }
        d.push(")");
        d.build().execute(&mut *c).await?;
    }
    let lines: Vec<(&OrderRow, &LineRow)> = orders
        .iter()
        .flat_map(|(o, ls)| ls.iter().map(move |l| (*o, l)))
        .collect();
    for chunk in lines.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price_minor, currency) ",
        );
        q.push_values(chunk, |mut b, (o, l)| {
            b.push_bind(&o.order_id)
                .push_bind(l.line_no)
                .push_bind(&l.sku)
                .push_bind(l.quantity)
                .push_bind(l.unit_price_minor)
                .push_bind(&o.currency);
        });
        q.build().execute(&mut *c).await?;
    }
    Ok(())
}

/// Appends status events to the history (an event_id already stored is skipped, so a replay
/// is a no-op; another event with the same (order_id, sequence) breaks
/// `order_status_history_seq`) and moves each order's current status only forward in
/// sequence, so events applied out of order cannot regress it. Rows are (row, partition,
/// offset).
pub async fn append_statuses(
    c: &mut MySqlConnection,
    rows: &[(&HistoryRow, i32, i64)],
) -> Result<(), WriteError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::new(
            "SELECT event_id FROM order_status_history WHERE event_id IN (",
        );
        let mut ids = q.separated(", ");
        for (h, _, _) in chunk {
            ids.push_bind(&h.event_id);
        }
        q.push(")");
        let stored: Vec<String> = q.build_query_scalar().fetch_all(&mut *c).await?;
        let mut seen: std::collections::HashSet<&str> = stored.iter().map(String::as_str).collect();
        let fresh: Vec<_> = chunk
            .iter()
            .filter(|(h, _, _)| seen.insert(h.event_id.as_str()))
            .collect();
        if !fresh.is_empty() {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO order_status_history (event_id, order_id, sequence, state,
                     previous_state, reason, event_time_ms, total_minor, currency,
                     source_partition, source_offset) ",
            );
            q.push_values(fresh, |mut b, (h, p, o)| {
                b.push_bind(&h.event_id)
                    .push_bind(&h.order_id)
                    .push_bind(h.sequence)
                    .push_bind(&h.state)
                    .push_bind(&h.previous_state)
                    .push_bind(&h.reason)
                    .push_bind(h.event_time_ms)
                    .push_bind(h.total_minor)
                    .push_bind(&h.currency)
                    .push_bind(*p)
                    .push_bind(*o);
            });
            q.build().execute(&mut *c).await?;
        }
        // MySQL applies rows in order and evaluates assignments left to right on the updated
        // row: status_sequence goes last.
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO orders (order_id, user_id, currency, total_minor, status, status_reason,
                 status_sequence, status_at_ms) ",
        );
        q.push_values(chunk, |mut b, (h, _, _)| {
            b.push_bind(&h.order_id)
                .push_bind(&h.user_id)
                .push_bind(&h.currency)
                .push_bind(h.total_minor)
                .push_bind(&h.state)
                .push_bind(&h.reason)
                .push_bind(h.sequence)
                .push_bind(h.event_time_ms);
        });
        q.push(
            " ON DUPLICATE KEY UPDATE
             user_id = COALESCE(user_id, VALUES(user_id)),
             currency = COALESCE(currency, VALUES(currency)),
             total_minor = COALESCE(total_minor, VALUES(total_minor)),
             status = IF(COALESCE(status_sequence, 0) < VALUES(status_sequence), VALUES(status), status),
             status_reason = IF(COALESCE(status_sequence, 0) < VALUES(status_sequence), VALUES(status_reason), status_reason),
             status_at_ms = IF(COALESCE(status_sequence, 0) < VALUES(status_sequence), VALUES(status_at_ms), status_at_ms),
             status_sequence = GREATEST(COALESCE(status_sequence, 0), VALUES(status_sequence))",
        );
        q.build().execute(&mut *c).await?;
    }
    Ok(())
}

/// Sets SKUs' levels; rows apply in order, so for a SKU repeated in a batch the last (highest
/// offset) wins, as in the compacted topic. Rows are (row, partition, offset).
pub async fn upsert_stock(
    c: &mut MySqlConnection,
    rows: &[(&StockRow, i32, i64)],
) -> Result<(), WriteError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO stock_levels (sku, on_hand, reserved, available, flagged, last_change,
                 event_id, event_time_ms, source_partition, source_offset) ",
        );
        q.push_values(chunk, |mut b, (s, p, o)| {
            b.push_bind(&s.sku)
                .push_bind(s.on_hand)
                .push_bind(s.reserved)
                .push_bind(s.available)
                .push_bind(s.flagged)
                .push_bind(&s.last_change)
                .push_bind(&s.event_id)
                .push_bind(s.event_time_ms)
                .push_bind(*p)
                .push_bind(*o);
        });
        q.push(
            " ON DUPLICATE KEY UPDATE on_hand = VALUES(on_hand), reserved = VALUES(reserved),
             available = VALUES(available), flagged = VALUES(flagged),
             last_change = VALUES(last_change), event_id = VALUES(event_id),
             event_time_ms = VALUES(event_time_ms), source_partition = VALUES(source_partition),
             source_offset = VALUES(source_offset)",
        );
        q.build().execute(&mut *c).await?;
    }
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

/// Sets SKUs' prices, the last row of a SKU winning (as in the compacted topic). Rows are
/// (row, partition, offset).
pub async fn upsert_prices(
    c: &mut MySqlConnection,
    rows: &[(&PriceRow, i32, i64)],
) -> Result<(), WriteError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO prices (sku, list_price_minor, effective_price_minor, currency,
                 applied_rule_ids, valid_until_ms, event_id, event_time_ms, source_partition,
                 source_offset) ",
        );
        q.push_values(chunk, |mut b, (r, p, o)| {
            b.push_bind(&r.sku)
                .push_bind(r.list_price_minor)
                .push_bind(r.effective_price_minor)
                .push_bind(&r.currency)
                .push_bind(&r.applied_rule_ids)
                .push_bind(r.valid_until_ms)
                .push_bind(&r.event_id)
                .push_bind(r.event_time_ms)
                .push_bind(*p)
                .push_bind(*o);
        });
        q.push(
            " ON DUPLICATE KEY UPDATE list_price_minor = VALUES(list_price_minor),
             effective_price_minor = VALUES(effective_price_minor), currency = VALUES(currency),
             applied_rule_ids = VALUES(applied_rule_ids), valid_until_ms = VALUES(valid_until_ms),
             event_id = VALUES(event_id), event_time_ms = VALUES(event_time_ms),
             source_partition = VALUES(source_partition), source_offset = VALUES(source_offset)",
        );
        q.build().execute(&mut *c).await?;
    }
    Ok(())
}

/// A `pricing.prices` tombstone: the SKU has no price (deleted or not for sale).
pub async fn delete_price(c: &mut MySqlConnection, sku: &str) -> Result<(), WriteError> {
    sqlx::query("DELETE FROM prices WHERE sku = ?")
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
