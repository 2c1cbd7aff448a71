//! Records → rows, as plain functions (no I/O): what the MySQL read model holds for each
//! event. Checks here mirror the table constraints so a bad record is rejected with a clear
//! reason before it reaches the database.

use techpotli_schemas::types::inventory::StockLevel;
use techpotli_schemas::types::orders::{OrderPlaced, OrderStatusChanged};
use techpotli_schemas::types::pricing::PriceChanged;
use techpotli_schemas::types::symbol;

/// The placed columns of `orders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRow {
    pub order_id: String,
    pub user_id: String,
    pub idempotency_key: String,
    pub cart_id: Option<String>,
    pub currency: String,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    pub total_minor: i64,
    /// The shipping address as a JSON object (read back whole by the API).
    pub shipping_address: String,
    pub placed_event_id: String,
    pub placed_at_ms: i64,
}

/// One row of `order_lines`; `line_no` is the line's position in the order, from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRow {
    pub line_no: i32,
    pub sku: String,
    pub quantity: i32,
    pub unit_price_minor: i64,
}

/// One row of `order_status_history` (also the status columns of `orders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub event_id: String,
    pub order_id: String,
    pub user_id: String,
    pub sequence: i32,
    pub state: String,
    pub previous_state: Option<String>,
    pub reason: Option<String>,
    pub event_time_ms: i64,
    pub total_minor: i64,
    pub currency: String,
}

/// One row of `stock_levels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRow {
    pub sku: String,
    pub on_hand: i32,
    pub reserved: i32,
    pub available: i32,
    pub flagged: bool,
    pub last_change: String,
    pub event_id: String,
    pub event_time_ms: i64,
}

fn currency_ok(c: &str) -> bool {
    c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())
}

/// The order row and its lines; `Err` names the broken invariant (the record is
/// dead-lettered).
pub fn placed(o: &OrderPlaced) -> Result<(OrderRow, Vec<LineRow>), String> {
    if !currency_ok(&o.currency) {
        return Err(format!("currency {:?} is not an ISO 4217 code", o.currency));
    }
    if o.lines.is_empty() {
        return Err("an order without lines".into());
    }
    if o.total_minor < 0 {
        return Err(format!("negative total {}", o.total_minor));
    }
    let a = &o.shipping_address;
    let address = serde_json::json!({
        "recipient_name": a.recipient_name, "line1": a.line1, "line2": a.line2,
        "city": a.city, "region": a.region, "postal_code": a.postal_code,
        "country_code": a.country_code, "phone": a.phone,
    });
    let row = OrderRow {
        order_id: o.order_id.clone(),
        user_id: o.user_id.clone(),
        idempotency_key: o.idempotency_key.clone(),
        cart_id: o.cart_id.clone(),
        currency: o.currency.clone(),
        subtotal_minor: o.subtotal_minor,
        discount_minor: o.discount_minor,
        shipping_minor: o.shipping_minor,
        tax_minor: o.tax_minor,
        total_minor: o.total_minor,
        shipping_address: address.to_string(),
        placed_event_id: o.event_id.to_string(),
        placed_at_ms: o.event_time,
    };
    let lines = o
        .lines
        .iter()
        .zip(1..)
        .map(|(l, line_no)| LineRow {
            line_no,
            sku: l.sku.clone(),
            quantity: l.quantity,
            unit_price_minor: l.unit_price_minor,
        })
        .collect();
    Ok((row, lines))
}

/// The history row of a status event.
pub fn status(s: &OrderStatusChanged) -> Result<HistoryRow, String> {
    if s.sequence < 1 {
        return Err(format!("sequence {} < 1", s.sequence));
    }
    Ok(HistoryRow {
        event_id: s.event_id.to_string(),
        order_id: s.order_id.clone(),
        user_id: s.user_id.clone(),
        sequence: s.sequence,
        state: symbol(&s.state),
        previous_state: s.previous_state.as_ref().map(symbol),
        reason: s.reason.clone(),
        event_time_ms: s.event_time,
        total_minor: s.total_minor,
        currency: s.currency.clone(),
    })
}

/// The stock row of a level event.
pub fn stock(l: &StockLevel) -> StockRow {
    StockRow {
        sku: l.sku.clone(),
        on_hand: l.on_hand,
        reserved: l.reserved,
        available: l.available,
        flagged: l.flagged,
        last_change: symbol(&l.last_change_reason),
        event_id: l.event_id.to_string(),
        event_time_ms: l.event_time,
    }
}

/// One row of `prices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRow {
    pub sku: String,
    pub list_price_minor: i64,
    pub effective_price_minor: i64,
    pub currency: String,
    /// JSON array of rule ids.
    pub applied_rule_ids: String,
    pub valid_until_ms: Option<i64>,
    pub event_id: String,
    pub event_time_ms: i64,
}

/// The price row of a price event; a negative amount breaks the table's constraint.
pub fn price(p: &PriceChanged) -> Result<PriceRow, String> {
    if p.list_price_minor < 0 || p.effective_price_minor < 0 {
        return Err(format!("negative price for {:?}", p.sku));
    }
    Ok(PriceRow {
        sku: p.sku.clone(),
        list_price_minor: p.list_price_minor,
        effective_price_minor: p.effective_price_minor,
        currency: p.currency.clone(),
        applied_rule_ids: serde_json::to_string(&p.applied_rule_ids)
            .unwrap_or_else(|_| "[]".into()),
        valid_until_ms: p.valid_until,
        event_id: p.event_id.to_string(),
        event_time_ms: p.event_time,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use techpotli_schemas::types::inventory::StockChangeReason;
    use techpotli_schemas::types::orders::{OrderLine, OrderState, ShippingAddress};

    pub(crate) fn order(id: &str) -> OrderPlaced {
        OrderPlaced {
            event_id: uuid::Uuid::now_v7(),
            event_time: 1_700_000_000_000,
            order_id: id.into(),
            user_id: "u1".into(),
            idempotency_key: "k1".into(),
            cart_id: None,
            currency: "INR".into(),
            lines: vec![
                OrderLine {
                    sku: "A".into(),
                    quantity: 2,
                    unit_price_minor: 500,
                },
                OrderLine {
                    sku: "B".into(),
                    quantity: 1,
                    unit_price_minor: 1000,
                },
            ],
            subtotal_minor: 2000,
            discount_minor: 0,
            shipping_minor: 100,
            tax_minor: 0,
            total_minor: 2100,
            shipping_address: ShippingAddress {
                recipient_name: "R".into(),
                line1: "1 Road".into(),
                line2: None,
                city: "Pune".into(),
                region: None,
                postal_code: "411001".into(),
                country_code: "IN".into(),
                phone: None,
            },
        }
    }

    #[test]
    fn placed_orders_become_a_row_and_numbered_lines() {
        let (row, lines) = placed(&order("o1")).unwrap();
        assert_eq!((row.total_minor, row.currency.as_str()), (2100, "INR"));
        assert_eq!(lines.iter().map(|l| l.line_no).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(lines[0].sku, "A");
        assert!(row.shipping_address.contains("\"city\":\"Pune\""));
    }

    #[test]
    fn broken_orders_are_rejected_with_a_reason() {
        let mut o = order("o1");
        o.currency = "inr".into();
        assert!(placed(&o).unwrap_err().contains("currency"));
        let mut o = order("o1");
        o.lines.clear();
        assert!(placed(&o).unwrap_err().contains("without lines"));
    }

    #[test]
    fn states_are_stored_as_avro_symbols() {
        let s = OrderStatusChanged {
            event_id: uuid::Uuid::now_v7(),
            event_time: 5,
            order_id: "o1".into(),
            user_id: "u1".into(),
            sequence: 4,
            state: OrderState::AwaitingPayment,
            previous_state: Some(OrderState::Reserved),
            reason: None,
            total_minor: 10,
            currency: "INR".into(),
        };
        let h = status(&s).unwrap();
        assert_eq!(h.state, "AWAITING_PAYMENT");
        assert_eq!(h.previous_state.as_deref(), Some("RESERVED"));
        let l = StockLevel {
            event_id: uuid::Uuid::now_v7(),
            event_time: 1,
            sku: "A".into(),
            on_hand: 5,
            reserved: 2,
            available: 3,
            flagged: false,
            last_change_reason: StockChangeReason::Reservation,
        };
        assert_eq!(stock(&l).last_change, "RESERVATION");
    }

    #[test]
    fn a_price_maps_to_its_row_and_a_negative_one_is_refused() {
        let mut p = PriceChanged {
            event_id: uuid::Uuid::now_v7(),
            event_time: 5,
            sku: "A".into(),
            list_price_minor: 1000,
            effective_price_minor: 900,
            currency: "INR".into(),
            applied_rule_ids: vec!["r1".into(), "r2".into()],
            valid_until: Some(9),
        };
        let row = price(&p).unwrap();
        assert_eq!(row.applied_rule_ids, r#"["r1","r2"]"#);
        assert_eq!(row.valid_until_ms, Some(9));
        p.effective_price_minor = -1;
        assert!(price(&p).unwrap_err().contains("negative"));
    }
}
