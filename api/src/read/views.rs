//! Response bodies of the read endpoints and the pure mappings from the Redis sink's hashes
//! (keys and field names as `techpotli-connector-redis`'s `fields` writes them; the contract
//! test below maps that module's output back, so a renamed field fails here) to those bodies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which store answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// MySQL: the system of record, with the status history.
    Mysql,
    /// Redis: the cache; an order read from it has no history.
    Redis,
}

/// One ordered SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderLineView {
    pub sku: String,
    pub quantity: i32,
    /// Price per unit in minor units of the order's currency.
    pub unit_price_minor: i64,
}

/// One status change, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatusChange {
    pub sequence: i32,
    /// `PLACED`, `RESERVING`, …, `CONFIRMED` or `CANCELLED`.
    pub state: String,
    pub previous_state: Option<String>,
    pub reason: Option<String>,
    /// Event time, ms since the Unix epoch.
    pub at_ms: i64,
    pub event_id: String,
}

/// An order as materialised. Fields from `orders.placed` are absent until that record is
/// materialised, fields from `orders.status` until the saga's first status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub user_id: String,
    /// The latest state; absent before the saga's first status.
    pub status: Option<String>,
    /// Why the order was cancelled (or the latest note).
    pub status_reason: Option<String>,
    /// Sequence number of the latest status.
    pub status_sequence: Option<i32>,
    pub status_at_ms: Option<i64>,
    /// ISO 4217 code of every amount.
    pub currency: Option<String>,
    pub subtotal_minor: Option<i64>,
    pub discount_minor: Option<i64>,
    pub shipping_minor: Option<i64>,
    pub tax_minor: Option<i64>,
    pub total_minor: Option<i64>,
    pub placed_at_ms: Option<i64>,
    /// Where the order ships, as placed (absent when read from Redis).
    #[schema(value_type = Option<Object>)]
    pub shipping_address: Option<serde_json::Value>,
    pub lines: Vec<OrderLineView>,
    /// Every status change, oldest first (empty when read from Redis).
    pub history: Vec<StatusChange>,
    pub source: Source,
}

/// A SKU's stock level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StockView {
    pub sku: String,
    pub on_hand: i32,
    pub reserved: i32,
    /// `on_hand - reserved`, never negative.
    pub available: i32,
    /// The last adjustment left on-hand below reserved (oversold); operations must look.
    pub flagged: bool,
    /// Reason of the last change (`RESTOCK`, `RESERVATION`, …).
    pub last_change: String,
    /// Event time of the last change, ms since the Unix epoch.
    pub event_time_ms: i64,
    pub source: Source,
}

/// A SKU's current price (`pricing.prices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PriceView {
    pub sku: String,
    /// Undiscounted price of one unit, minor units.
    pub list_price_minor: i64,
    /// What one unit costs now, after the price rules in `applied_rule_ids`, minor units.
    pub effective_price_minor: i64,
    /// ISO 4217 code of both prices.
    pub currency: String,
    /// The rules that took effect, in the order applied.
    pub applied_rule_ids: Vec<String>,
    /// When this price may next change because a rule starts or ends (ms since the Unix epoch);
    /// absent when no such time is known.
    pub valid_until_ms: Option<i64>,
    /// When this price took effect, ms since the Unix epoch.
    pub event_time_ms: i64,
    pub source: Source,
}

/// One line of a priced cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CartLineView {
    pub sku: String,
    pub quantity: i32,
    pub list_unit_price_minor: i64,
    /// The SKU's current effective price per unit.
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
}

/// A cart at current prices (`pricing.carts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CartView {
    pub cart_id: String,
    pub user_id: Option<String>,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// Priced lines, in the order SKUs were first added.
    pub lines: Vec<CartLineView>,
    /// SKUs in the cart without a current price (not counted, cannot be checked out).
    pub unpriced_skus: Vec<String>,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub total_minor: i64,
    /// When the cart was last priced, ms since the Unix epoch.
    pub event_time_ms: i64,
    pub source: Source,
}

/// `cart:{id}`, before the key prefix.
pub fn cart_key(cart_id: &str) -> String {
    format!("cart:{cart_id}")
}

/// `cart:{id}` → view.
pub fn cart_from_hash(h: &BTreeMap<String, String>) -> Result<CartView, String> {
    let json = |name: &str| -> Result<serde_json::Value, String> {
        serde_json::from_str(field(h, name)?).map_err(|e| format!("field {name}: {e}"))
    };
    Ok(CartView {
        cart_id: field(h, "cart_id")?.to_owned(),
        user_id: opt_text(h, "user_id"),
        currency: field(h, "currency")?.to_owned(),
        lines: serde_json::from_value(json("lines")?).map_err(|e| format!("field lines: {e}"))?,
        unpriced_skus: serde_json::from_value(json("unpriced_skus")?)
            .map_err(|e| format!("field unpriced_skus: {e}"))?,
        subtotal_minor: num(h, "subtotal_minor")?,
        discount_minor: num(h, "discount_minor")?,
        total_minor: num(h, "total_minor")?,
        event_time_ms: num(h, "event_time_ms")?,
        source: Source::Redis,
    })
}

/// `price:{sku}`, before the key prefix.
pub fn price_key(sku: &str) -> String {
    format!("price:{sku}")
}

/// `order:{id}`, before the key prefix.
pub fn order_key(order_id: &str) -> String {
    format!("order:{order_id}")
}

/// `stock:{sku}`, before the key prefix.
pub fn stock_key(sku: &str) -> String {
    format!("stock:{sku}")
}

fn field<'a>(h: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, String> {
    h.get(name)
        .map(String::as_str)
        .ok_or_else(|| format!("field {name} missing"))
}

fn num<T: std::str::FromStr>(h: &BTreeMap<String, String>, name: &str) -> Result<T, String> {
    field(h, name)?
        .parse()
        .map_err(|_| format!("field {name} is not a number"))
}

fn opt_num<T: std::str::FromStr>(
    h: &BTreeMap<String, String>,
    name: &str,
) -> Result<Option<T>, String> {
    h.get(name).map(|_| num(h, name)).transpose()
}

fn opt_text(h: &BTreeMap<String, String>, name: &str) -> Option<String> {
    h.get(name).filter(|s| !s.is_empty()).cloned()
}

/// `stock:{sku}` → view.
pub fn stock_from_hash(h: &BTreeMap<String, String>) -> Result<StockView, String> {
    Ok(StockView {
        sku: field(h, "sku")?.to_owned(),
        on_hand: num(h, "on_hand")?,
        reserved: num(h, "reserved")?,
        available: num(h, "available")?,
        flagged: field(h, "flagged")? == "1",
        last_change: field(h, "last_change")?.to_owned(),
        event_time_ms: num(h, "event_time_ms")?,
        source: Source::Redis,
    })
}

/// `price:{sku}` → view.
pub fn price_from_hash(h: &BTreeMap<String, String>) -> Result<PriceView, String> {
    let applied = serde_json::from_str(field(h, "applied_rule_ids")?)
        .map_err(|e| format!("field applied_rule_ids: {e}"))?;
    let valid_until_ms = match field(h, "valid_until_ms")? {
        "" => None,
        _ => Some(num(h, "valid_until_ms")?),
    };
    Ok(PriceView {
        sku: field(h, "sku")?.to_owned(),
        list_price_minor: num(h, "list_price_minor")?,
        effective_price_minor: num(h, "effective_price_minor")?,
        currency: field(h, "currency")?.to_owned(),
        applied_rule_ids: applied,
        valid_until_ms,
        event_time_ms: num(h, "event_time_ms")?,
        source: Source::Redis,
    })
}

/// `order:{id}` → view (no history: Redis keeps only the latest status).
pub fn order_from_hash(h: &BTreeMap<String, String>) -> Result<OrderView, String> {
    let lines = match h.get("lines") {
        Some(json) => serde_json::from_str(json).map_err(|e| format!("field lines: {e}"))?,
        None => Vec::new(),
    };
    Ok(OrderView {
        order_id: field(h, "order_id")?.to_owned(),
        user_id: field(h, "user_id")?.to_owned(),
        status: opt_text(h, "status"),
        status_reason: opt_text(h, "status_reason"),
        status_sequence: opt_num(h, "status_sequence")?,
        status_at_ms: opt_num(h, "status_at_ms")?,
        currency: opt_text(h, "currency"),
        subtotal_minor: opt_num(h, "subtotal_minor")?,
        discount_minor: opt_num(h, "discount_minor")?,
        shipping_minor: opt_num(h, "shipping_minor")?,
        tax_minor: opt_num(h, "tax_minor")?,
        total_minor: opt_num(h, "total_minor")?,
        placed_at_ms: opt_num(h, "placed_at_ms")?,
        shipping_address: None,
        lines,
        history: Vec::new(),
        source: Source::Redis,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use techpotli_connector_redis::fields::{self as sink, Write};
    use techpotli_testkit::fixtures;

    /// What the sink would leave in the hash after applying `writes` in order.
    fn applied(writes: &[Write]) -> (String, BTreeMap<String, String>) {
        let mut h = BTreeMap::new();
        let mut key = String::new();
        for w in writes {
            let Write::Set { key: k, fields, .. } = w else {
                panic!("a set");
            };
            key.clone_from(k);
            h.extend(fields.iter().cloned());
        }
        (key, h)
    }

    #[test]
    fn the_sinks_hashes_map_back_to_views() {
        let level = fixtures::level("A-1", 10, 4);
        let (key, h) = applied(&[sink::stock("", &level)]);
        assert_eq!(key, stock_key("A-1"));
        let v = stock_from_hash(&h).unwrap();
        assert_eq!(
            (v.sku.as_str(), v.on_hand, v.reserved, v.available),
            ("A-1", 10, 4, 6)
        );
        assert_eq!(v.flagged, level.flagged);
        assert_eq!(v.event_time_ms, level.event_time);
        assert_eq!(v.last_change, "RESERVATION");

        let placed = fixtures::placed("o1", "user-o1", &[("A-1", 3, 500), ("B-2", 1, 250)], 42);
        let status = fixtures::status("o1", 3);
        let (key, h) = applied(&[sink::placed("", &placed), sink::status("", &status)]);
        assert_eq!(key, order_key("o1"));
        let v = order_from_hash(&h).unwrap();
        assert_eq!(v.order_id, "o1");
        assert_eq!(v.user_id, "user-o1");
        assert_eq!(v.currency.as_deref(), Some("INR"));
        assert_eq!(v.total_minor, Some(placed.total_minor));
        assert_eq!(v.subtotal_minor, Some(placed.subtotal_minor));
        assert_eq!(v.placed_at_ms, Some(42));
        assert_eq!(v.status_sequence, Some(3));
        assert_eq!(v.status_at_ms, Some(status.event_time));
        assert_eq!(v.status.as_deref(), Some("CONFIRMED"));
        assert_eq!(
            v.lines,
            vec![
                OrderLineView {
                    sku: "A-1".into(),
                    quantity: 3,
                    unit_price_minor: 500
                },
                OrderLineView {
                    sku: "B-2".into(),
                    quantity: 1,
                    unit_price_minor: 250
                }
            ]
        );
    }

    fn hash(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn stock_hash_maps_to_a_view_and_rejects_garbage() {
        let h = hash(&[
            ("sku", "A-1"),
            ("on_hand", "10"),
            ("reserved", "4"),
            ("available", "6"),
            ("flagged", "0"),
            ("last_change", "RESERVATION"),
            ("event_time_ms", "17"),
            ("_offset:inventory.levels:0", "9"),
        ]);
        let v = stock_from_hash(&h).unwrap();
        assert_eq!((v.on_hand, v.reserved, v.available), (10, 4, 6));
        assert!(!v.flagged);
        assert_eq!(v.source, Source::Redis);
        let mut bad = h.clone();
        bad.insert("reserved".into(), "four".into());
        assert!(stock_from_hash(&bad).unwrap_err().contains("reserved"));
        bad.remove("sku");
        assert!(stock_from_hash(&bad).unwrap_err().contains("sku"));
    }

    #[test]
    fn order_hash_with_status_only_or_placed_only_maps_to_a_partial_view() {
        let status_only = hash(&[
            ("order_id", "o1"),
            ("user_id", "u1"),
            ("status", "RESERVING"),
            ("status_reason", ""),
            ("status_sequence", "2"),
            ("status_at_ms", "5"),
        ]);
        let v = order_from_hash(&status_only).unwrap();
        assert_eq!(v.status.as_deref(), Some("RESERVING"));
        assert_eq!(v.status_reason, None);
        assert_eq!(v.total_minor, None);
        assert!(v.lines.is_empty() && v.history.is_empty());
        let placed = hash(&[
            ("order_id", "o1"),
            ("user_id", "u1"),
            ("currency", "INR"),
            ("total_minor", "1500"),
            (
                "lines",
                r#"[{"sku":"A-1","quantity":3,"unit_price_minor":500}]"#,
            ),
        ]);
        let v = order_from_hash(&placed).unwrap();
        assert_eq!(v.status, None);
        assert_eq!(
            v.lines,
            vec![OrderLineView {
                sku: "A-1".into(),
                quantity: 3,
                unit_price_minor: 500
            }]
        );
        let mut bad = placed;
        bad.insert("lines".into(), "[".into());
        assert!(order_from_hash(&bad).unwrap_err().contains("lines"));
    }

    #[test]
    fn the_sinks_price_and_cart_hashes_map_back_to_their_views() {
        use techpotli_schemas::types::pricing::{CartPriced, PriceChanged, PricedCartLine};
        let price = PriceChanged {
            event_id: uuid::Uuid::now_v7(),
            event_time: 7,
            sku: "A-1".into(),
            list_price_minor: 1_000,
            effective_price_minor: 900,
            currency: "INR".into(),
            applied_rule_ids: vec!["r1".into()],
            valid_until: Some(99),
        };
        let (key, h) = applied(&[sink::price("", &price)]);
        assert_eq!(key, price_key("A-1"));
        let v = price_from_hash(&h).unwrap();
        assert_eq!((v.effective_price_minor, v.valid_until_ms), (900, Some(99)));
        assert_eq!(v.applied_rule_ids, ["r1"]);
        let ended = PriceChanged {
            valid_until: None,
            ..price
        };
        let (_, h2) = applied(&[sink::price("", &ended)]);
        assert_eq!(price_from_hash(&h2).unwrap().valid_until_ms, None);
        let cart = CartPriced {
            event_id: uuid::Uuid::now_v7(),
            event_time: 8,
            cart_id: "c-1".into(),
            user_id: Some("u".into()),
            currency: "INR".into(),
            lines: vec![PricedCartLine {
                sku: "A-1".into(),
                quantity: 2,
                list_unit_price_minor: 1_000,
                unit_price_minor: 900,
                line_total_minor: 1_800,
            }],
            unpriced_skus: vec!["Z".into()],
            subtotal_minor: 1_800,
            discount_minor: 0,
            total_minor: 1_800,
        };
        let (key, h) = applied(&[sink::cart("", &cart)]);
        assert_eq!(key, cart_key("c-1"));
        let v = cart_from_hash(&h).unwrap();
        assert_eq!((v.total_minor, v.lines[0].line_total_minor), (1_800, 1_800));
        assert_eq!(v.unpriced_skus, ["Z"]);
        assert_eq!(v.user_id.as_deref(), Some("u"));
    }
}
