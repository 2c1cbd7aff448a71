//! MySQL queries over the tables `techpotli-sink-mysql` writes (its migrations define them).

use sqlx::MySqlPool;

use super::ReadError;
use super::views::{OrderLineView, OrderView, PriceView, Source, StatusChange, StockView};

type OrderRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

type HistoryRow = (i32, String, Option<String>, Option<String>, i64, String);

/// The order, its lines (in line order) and its status history (oldest first).
pub async fn order(db: &MySqlPool, order_id: &str) -> Result<Option<OrderView>, ReadError> {
    let mut conn = db.acquire().await?;
    let row: Option<OrderRow> = sqlx::query_as(
        "SELECT order_id, user_id, status, status_reason, status_sequence, status_at_ms,
                currency, subtotal_minor, discount_minor, shipping_minor, tax_minor,
                total_minor, placed_at_ms, shipping_address
         FROM orders WHERE order_id = ?",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let lines: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT sku, quantity, unit_price_minor FROM order_lines
         WHERE order_id = ? ORDER BY line_no",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let history: Vec<HistoryRow> = sqlx::query_as(
        "SELECT sequence, state, previous_state, reason, event_time_ms, event_id
         FROM order_status_history WHERE order_id = ? ORDER BY sequence",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let shipping_address =
        r.13.as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| ReadError::Corrupt(format!("orders.shipping_address: {e}")))?;
    Ok(Some(OrderView {
        order_id: r.0,
        // Both topics carry the user; a row exists only once one of them was applied.
        user_id: r.1.unwrap_or_default(),
        status: r.2,
        status_reason: r.3.filter(|s| !s.is_empty()),
        status_sequence: r.4,
        status_at_ms: r.5,
        currency: r.6,
        subtotal_minor: r.7,
        discount_minor: r.8,
        shipping_minor: r.9,
        tax_minor: r.10,
        total_minor: r.11,
        placed_at_ms: r.12,
        shipping_address,
        lines: lines
            .into_iter()
            .map(|(sku, quantity, unit_price_minor)| OrderLineView {
                sku,
                quantity,
                unit_price_minor,
            })
            .collect(),
        history: history
            .into_iter()
            .map(
                |(sequence, state, previous_state, reason, at_ms, event_id)| StatusChange {
                    sequence,
                    state,
                    previous_state,
                    reason: reason.filter(|s| !s.is_empty()),
                    at_ms,
                    event_id,
                },
            )
            .collect(),
        source: Source::Mysql,
    }))
}

/// The SKU's current level.
pub async fn stock(db: &MySqlPool, sku: &str) -> Result<Option<StockView>, ReadError> {
    let row: Option<(String, i32, i32, i32, bool, String, i64)> = sqlx::query_as(
        "SELECT sku, on_hand, reserved, available, flagged, last_change, event_time_ms
         FROM stock_levels WHERE sku = ?",
    )
    .bind(sku)
    .fetch_optional(db)
    .await?;
    Ok(row.map(
        |(sku, on_hand, reserved, available, flagged, last_change, event_time_ms)| StockView {
            sku,
            on_hand,
            reserved,
            available,
            flagged,
            last_change,
            event_time_ms,
            source: Source::Mysql,
        },
    ))
}

/// sku, list, effective, currency, applied rule ids (JSON), valid until, event time.
type PriceRow = (String, i64, i64, String, String, Option<i64>, i64);

/// Current prices of `skus` (those that have one).
pub async fn prices(db: &MySqlPool, skus: &[&str]) -> Result<Vec<PriceView>, ReadError> {
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = sqlx::QueryBuilder::new(
        "SELECT sku, list_price_minor, effective_price_minor, currency, applied_rule_ids,
             valid_until_ms, event_time_ms FROM prices WHERE sku IN (",
    );
    let mut list = q.separated(", ");
    for sku in skus {
        list.push_bind(*sku);
    }
    q.push(")");
    let rows: Vec<PriceRow> = q.build_query_as().fetch_all(db).await?;
    rows.into_iter()
        .map(
            |(sku, list, effective, currency, applied, valid_until_ms, at)| {
                Ok(PriceView {
                    applied_rule_ids: serde_json::from_str(&applied).map_err(|e| {
                        ReadError::Corrupt(format!("prices.applied_rule_ids of {sku}: {e}"))
                    })?,
                    sku,
                    list_price_minor: list,
                    effective_price_minor: effective,
                    currency,
                    valid_until_ms,
                    event_time_ms: at,
                    source: Source::Mysql,
                })
            },
        )
        .collect()
}
