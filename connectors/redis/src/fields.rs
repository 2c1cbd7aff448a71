//! Records → hash writes, as plain functions (no I/O): which key a record updates, with which
//! fields, under which guard. The script ([`crate::script`]) applies them.

use techpotli_schemas::types::inventory::StockLevel;
use techpotli_schemas::types::orders::{OrderPlaced, OrderStatusChanged};
use techpotli_schemas::types::pricing::{CartPriced, PriceChanged};
use techpotli_schemas::types::symbol;

/// What one record does to one hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Set `fields` on `key`. With `monotonic`, only if the stored value of that field is
    /// absent or smaller (the order's `status_sequence`: status never moves backwards).
    Set {
        key: String,
        fields: Vec<(String, String)>,
        monotonic: Option<(String, i64)>,
    },
    /// Delete `key` (a tombstone on a compacted topic).
    Delete { key: String },
}

impl Write {
    pub fn key(&self) -> &str {
        match self {
            Self::Set { key, .. } | Self::Delete { key } => key,
        }
    }
}

/// `stock:{sku}`.
pub fn stock_key(prefix: &str, sku: &str) -> String {
    format!("{prefix}stock:{sku}")
}

/// `price:{sku}`.
pub fn price_key(prefix: &str, sku: &str) -> String {
    format!("{prefix}price:{sku}")
}

/// `cart:{id}`.
pub fn cart_key(prefix: &str, cart_id: &str) -> String {
    format!("{prefix}cart:{cart_id}")
}

/// `order:{id}`.
pub fn order_key(prefix: &str, order_id: &str) -> String {
    format!("{prefix}order:{order_id}")
}

/// The hash field holding the offset of the last record of `topic`/`partition` applied to a
/// key: the script's guard. Per topic, since `order:{id}` is written from two topics.
pub fn offset_field(topic: &str, partition: i32) -> String {
    format!("_offset:{topic}:{partition}")
}

fn pairs(items: &[(&str, String)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The current level of a SKU.
pub fn stock(prefix: &str, l: &StockLevel) -> Write {
    Write::Set {
        key: stock_key(prefix, &l.sku),
        fields: pairs(&[
            ("sku", l.sku.clone()),
            ("on_hand", l.on_hand.to_string()),
            ("reserved", l.reserved.to_string()),
            ("available", l.available.to_string()),
            ("flagged", u8::from(l.flagged).to_string()),
            ("last_change", symbol(&l.last_change_reason)),
            ("event_id", l.event_id.to_string()),
            ("event_time_ms", l.event_time.to_string()),
        ]),
        monotonic: None,
    }
}

/// The current price of a SKU; `applied_rule_ids` as a JSON array, `valid_until_ms` empty
/// when the price has no known end (HSET cannot unset a field, so every field is written).
pub fn price(prefix: &str, p: &PriceChanged) -> Write {
    Write::Set {
        key: price_key(prefix, &p.sku),
        fields: pairs(&[
            ("sku", p.sku.clone()),
            ("list_price_minor", p.list_price_minor.to_string()),
            ("effective_price_minor", p.effective_price_minor.to_string()),
            ("currency", p.currency.clone()),
            (
                "applied_rule_ids",
                serde_json::to_string(&p.applied_rule_ids).unwrap_or_else(|_| "[]".into()),
            ),
            (
                "valid_until_ms",
                p.valid_until.map(|t| t.to_string()).unwrap_or_default(),
            ),
            ("event_id", p.event_id.to_string()),
            ("event_time_ms", p.event_time.to_string()),
        ]),
        monotonic: None,
    }
}

/// A cart at current prices; lines and unpriced SKUs as JSON arrays (read whole by the API).
pub fn cart(prefix: &str, c: &CartPriced) -> Write {
    let lines: Vec<_> = c
        .lines
        .iter()
        .map(|l| {
            serde_json::json!({"sku": l.sku, "quantity": l.quantity,
                "list_unit_price_minor": l.list_unit_price_minor,
                "unit_price_minor": l.unit_price_minor, "line_total_minor": l.line_total_minor})
        })
        .collect();
    Write::Set {
        key: cart_key(prefix, &c.cart_id),
        fields: pairs(&[
            ("cart_id", c.cart_id.clone()),
            ("user_id", c.user_id.clone().unwrap_or_default()),
            ("currency", c.currency.clone()),
            ("lines", serde_json::Value::Array(lines).to_string()),
            (
                "unpriced_skus",
                serde_json::to_string(&c.unpriced_skus).unwrap_or_else(|_| "[]".into()),
            ),
            ("subtotal_minor", c.subtotal_minor.to_string()),
            ("discount_minor", c.discount_minor.to_string()),
            ("total_minor", c.total_minor.to_string()),
            ("event_time_ms", c.event_time.to_string()),
        ]),
        monotonic: None,
    }
}

/// The placed fields of an order; lines as a JSON array (read whole by the API).
pub fn placed(prefix: &str, o: &OrderPlaced) -> Write {
    let lines: Vec<_> = o
        .lines
        .iter()
        .map(|l| serde_json::json!({"sku": l.sku, "quantity": l.quantity, "unit_price_minor": l.unit_price_minor}))
        .collect();
    Write::Set {
        key: order_key(prefix, &o.order_id),
        fields: pairs(&[
            ("order_id", o.order_id.clone()),
            ("user_id", o.user_id.clone()),
            ("currency", o.currency.clone()),
            ("subtotal_minor", o.subtotal_minor.to_string()),
            ("discount_minor", o.discount_minor.to_string()),
            ("shipping_minor", o.shipping_minor.to_string()),
            ("tax_minor", o.tax_minor.to_string()),
            ("total_minor", o.total_minor.to_string()),
            ("lines", serde_json::Value::Array(lines).to_string()),
            ("placed_at_ms", o.event_time.to_string()),
        ]),
        monotonic: None,
    }
}

/// The status fields of an order, applied only forward in sequence.
pub fn status(prefix: &str, s: &OrderStatusChanged) -> Write {
    Write::Set {
        key: order_key(prefix, &s.order_id),
        fields: pairs(&[
            ("order_id", s.order_id.clone()),
            ("user_id", s.user_id.clone()),
            ("status", symbol(&s.state)),
            ("status_reason", s.reason.clone().unwrap_or_default()),
            ("status_sequence", s.sequence.to_string()),
            ("status_at_ms", s.event_time.to_string()),
        ]),
        monotonic: Some(("status_sequence".into(), i64::from(s.sequence))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use techpotli_schemas::types::inventory::StockChangeReason;
    use techpotli_schemas::types::orders::OrderState;

    #[test]
    fn stock_levels_map_to_a_prefixed_hash() {
        let l = StockLevel {
            event_id: uuid::Uuid::now_v7(),
            event_time: 9,
            sku: "A-1".into(),
            on_hand: 10,
            reserved: 4,
            available: 6,
            flagged: false,
            last_change_reason: StockChangeReason::Restock,
        };
        let Write::Set {
            key,
            fields,
            monotonic,
        } = stock("t:", &l)
        else {
            panic!("a set")
        };
        assert_eq!(key, "t:stock:A-1");
        assert!(fields.contains(&("available".into(), "6".into())));
        assert!(fields.contains(&("last_change".into(), "RESTOCK".into())));
        assert_eq!(monotonic, None);
    }

    #[test]
    fn status_is_guarded_by_its_sequence() {
        let s = OrderStatusChanged {
            event_id: uuid::Uuid::now_v7(),
            event_time: 1,
            order_id: "o1".into(),
            user_id: "u".into(),
            sequence: 7,
            state: OrderState::Cancelled,
            previous_state: Some(OrderState::Compensating),
            reason: Some("payment timeout".into()),
            total_minor: 1,
            currency: "INR".into(),
        };
        let w = status("", &s);
        assert_eq!(w.key(), "order:o1");
        let Write::Set {
            fields, monotonic, ..
        } = w
        else {
            panic!()
        };
        assert_eq!(monotonic, Some(("status_sequence".into(), 7)));
        assert!(fields.contains(&("status".into(), "CANCELLED".into())));
        assert_eq!(offset_field("orders.status", 2), "_offset:orders.status:2");
    }

    #[test]
    fn a_price_writes_every_field_so_an_ended_window_clears_valid_until() {
        let p = PriceChanged {
            event_id: uuid::Uuid::now_v7(),
            event_time: 5,
            sku: "A".into(),
            list_price_minor: 1000,
            effective_price_minor: 900,
            currency: "INR".into(),
            applied_rule_ids: vec!["r1".into()],
            valid_until: None,
        };
        let Write::Set { key, fields, .. } = price("t:", &p) else {
            panic!("a set")
        };
        assert_eq!(key, "t:price:A");
        assert!(fields.contains(&("valid_until_ms".into(), String::new())));
        assert!(fields.contains(&("applied_rule_ids".into(), r#"["r1"]"#.into())));
        assert!(fields.contains(&("effective_price_minor".into(), "900".into())));
    }
}
