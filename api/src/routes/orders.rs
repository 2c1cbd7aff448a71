//! Place order (`orders.placed`, key order_id) with a client `Idempotency-Key`: a retry within
//! 24 h gets the first answer back and produces nothing. The order id is derived from (user,
//! key) — a UUIDv5 — so even a duplicate let through while Redis is down carries the same
//! order id and the saga can drop it.

use std::collections::HashSet;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use techpotli_schemas::types::orders::{OrderLine, OrderPlaced, ShippingAddress};
use techpotli_topics::typed::ORDERS_PLACED;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Trace, accepted, produce};
use crate::app::Shared;
use crate::auth::Principal;
use crate::idempotency::{Claim, fingerprint};
use crate::pricing::{Expected, Quote, check, quote};
use crate::problem::Problem;
use crate::produce::Meta;
use crate::validate::{self as v, Json};

/// Most lines in one order.
pub const MAX_LINES: usize = 100;
/// Namespace of order ids (UUIDv5 of `user_id \n idempotency_key`).
const ORDER_NAMESPACE: Uuid = Uuid::from_u128(0x6a1c_54f0_9d2e_4c8b_a7f3_2b5e_0c41_d9e8);

/// One ordered SKU.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    #[schema(min_length = 1, max_length = 128, pattern = r"^[A-Za-z0-9._:-]+$")]
    pub sku: String,
    #[schema(minimum = 1, maximum = 1000)]
    pub quantity: i32,
    /// The unit price shown at checkout, in minor units — an expectation, not what is charged:
    /// the server prices the line, and answers 409 with its quote when this differs.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10_000_000_000_000_i64)]
    pub unit_price_minor: Option<i64>,
}

/// Where the order ships.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub recipient_name: String,
    #[schema(min_length = 1, max_length = 200)]
    pub line1: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub line2: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub city: String,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub region: Option<String>,
    #[schema(min_length = 1, max_length = 20)]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, e.g. `IN`.
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country_code: String,
    /// E.164 contact number.
    #[serde(default)]
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$")]
    pub phone: Option<String>,
}

/// An order at checkout: what and where. What it costs is the server's (current prices from
/// `pricing.prices`, the charges policy in `api/src/pricing.rs`); every amount here is optional
/// and only an expectation — one that differs gets 409 with the server's quote.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    /// The caller's cart the order comes from, if any.
    #[serde(default)]
    pub cart_id: Option<String>,
    /// Expected ISO 4217 code of every amount (the SKUs' currency).
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// 1..=100 lines with distinct SKUs.
    #[schema(min_items = 1, max_items = 100)]
    pub lines: Vec<LineRequest>,
    /// Expected order-level discount in minor units.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10_000_000_000_000_i64)]
    pub discount_minor: Option<i64>,
    /// Expected shipping charge in minor units.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10_000_000_000_000_i64)]
    pub shipping_minor: Option<i64>,
    /// Expected tax in minor units.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 10_000_000_000_000_i64)]
    pub tax_minor: Option<i64>,
    pub shipping_address: AddressRequest,
}

/// `202` for an order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderAccepted {
    pub event_id: Uuid,
    pub order_id: String,
    /// Amount to pay, in minor units, by the server's prices.
    pub total_minor: i64,
    /// ISO 4217 code of `total_minor`.
    pub currency: String,
}

/// The order id of (user, idempotency key).
pub fn order_id(user_id: &str, key: &str) -> String {
    Uuid::new_v5(&ORDER_NAMESPACE, format!("{user_id}\n{key}").as_bytes()).to_string()
}

/// The `Idempotency-Key` header: 1..=255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, Problem> {
    const F: &str = "header.Idempotency-Key";
    let v = headers
        .get("idempotency-key")
        .ok_or_else(|| Problem::invalid(F, "required: a unique key per checkout attempt"))?;
    let s = v
        .to_str()
        .ok()
        .filter(|s| (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| Problem::invalid(F, "must be 1..=255 visible ASCII characters"))?;
    Ok(s.to_owned())
}

impl OrderRequest {
    /// Checks the shape: lines, quantities, distinct SKUs, the address and that any expected
    /// amount is a valid amount (cart ownership is checked by the handler).
    pub fn validate(&self) -> Result<(), Problem> {
        if let Some(c) = &self.currency {
            v::currency("body.currency", c)?;
        }
        if self.lines.is_empty() {
            return Err(Problem::invalid("body.lines", "at least one line"));
        }
        v::max_items("body.lines", &self.lines, MAX_LINES)?;
        let mut seen = HashSet::new();
        for (i, l) in self.lines.iter().enumerate() {
            v::id(&format!("body.lines[{i}].sku"), &l.sku)?;
            v::quantity(&format!("body.lines[{i}].quantity"), l.quantity)?;
            if let Some(p) = l.unit_price_minor {
                v::money(&format!("body.lines[{i}].unit_price_minor"), p)?;
            }
            if !seen.insert(l.sku.as_str()) {
                return Err(Problem::invalid(
                    format!("body.lines[{i}].sku"),
                    "each SKU may appear on one line only",
                ));
            }
        }
        for (field, amount) in [
            ("body.discount_minor", self.discount_minor),
            ("body.shipping_minor", self.shipping_minor),
            ("body.tax_minor", self.tax_minor),
        ] {
            if let Some(a) = amount {
                v::money(field, a)?;
            }
        }
        let a = &self.shipping_address;
        v::text(
            "body.shipping_address.recipient_name",
            &a.recipient_name,
            200,
        )?;
        v::text("body.shipping_address.line1", &a.line1, 200)?;
        v::optional_text("body.shipping_address.line2", a.line2.as_deref(), 200)?;
        v::text("body.shipping_address.city", &a.city, 100)?;
        v::optional_text("body.shipping_address.region", a.region.as_deref(), 100)?;
        v::text("body.shipping_address.postal_code", &a.postal_code, 20)?;
        v::country("body.shipping_address.country_code", &a.country_code)?;
        if let Some(p) = &a.phone {
            v::e164("body.shipping_address.phone", p)?;
        }
        Ok(())
    }

    /// (sku, quantity) of each line, in order.
    pub fn lines(&self) -> Vec<(&str, i32)> {
        self.lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect()
    }

    /// The amounts the client sent, to check against the server's quote.
    pub fn expected(&self) -> Expected<'_> {
        Expected {
            currency: self.currency.as_deref(),
            unit_prices: self.lines.iter().map(|l| l.unit_price_minor).collect(),
            discount_minor: self.discount_minor,
            shipping_minor: self.shipping_minor,
            tax_minor: self.tax_minor,
        }
    }

    /// The record of a validated order priced by `quote` (the server's, for these lines).
    pub fn into_record(
        self,
        user_id: &str,
        key: &str,
        meta: &Meta,
        now: i64,
        quote: Quote,
    ) -> OrderPlaced {
        let a = self.shipping_address;
        OrderPlaced {
            event_id: meta.event_id,
            event_time: now,
            order_id: order_id(user_id, key),
            user_id: user_id.to_owned(),
            idempotency_key: key.to_owned(),
            cart_id: self.cart_id,
            currency: quote.currency,
            lines: quote
                .lines
                .into_iter()
                .map(|l| OrderLine {
                    sku: l.sku,
                    quantity: l.quantity,
                    unit_price_minor: l.unit_price_minor,
                })
                .collect(),
            subtotal_minor: quote.subtotal_minor,
            discount_minor: quote.discount_minor,
            shipping_minor: quote.shipping_minor,
            tax_minor: quote.tax_minor,
            total_minor: quote.total_minor,
            shipping_address: ShippingAddress {
                recipient_name: a.recipient_name,
                line1: a.line1,
                line2: a.line2,
                city: a.city,
                region: a.region,
                postal_code: a.postal_code,
                country_code: a.country_code,
                phone: a.phone,
            },
        }
    }
}

/// Prices a validated order from the read model: 503 when no store can say, 422 for a SKU
/// without a price, 409 when the client's figures are not the server's.
async fn price_order(state: &Shared, req: &OrderRequest) -> Result<Quote, Problem> {
    let lines = req.lines();
    let skus: Vec<&str> = lines.iter().map(|(s, _)| *s).collect();
    let prices = state.read.prices(&skus).await.map_err(|e| {
        tracing::warn!(error = %e, "prices unreadable: order refused for now");
        Problem::unavailable("prices cannot be read right now; retry shortly", 2)
    })?;
    let q = quote(&lines, &prices)?;
    check(&req.expected(), &q)?;
    Ok(q)
}

/// Place an order. Send a unique `Idempotency-Key` per checkout attempt and reuse it on
/// retries: the same key and body within 24 h return the first answer.
#[utoipa::path(post, path = "/v1/orders", tag = "customer",
    params(("Idempotency-Key" = String, Header, description = "1..=255 visible ASCII characters, unique per checkout")),
    request_body = OrderRequest,
    responses((status = 202, body = OrderAccepted), crate::openapi::Errors),
    security(("bearer" = [])))]
pub async fn place_order(
    State(state): State<Shared>,
    Extension(caller): Extension<Principal>,
    Trace(trace): Trace,
    headers: HeaderMap,
    Json(req): Json<OrderRequest>,
) -> Result<Response, Problem> {
    let key = idempotency_key(&headers)?;
    if let Some(c) = &req.cart_id {
        state.carts.check("body.cart_id", c, &caller.user_id)?;
    }
    req.validate()?;
    let print = fingerprint(&serde_json::to_vec(&req).expect("serialisable"));
    let meta = Meta::new(trace);
    let user = caller.user_id.as_str();
    // The claim comes before pricing: a retry gets the first answer even after a price change.
    match state.idempotency.claim(user, &key, &print).await? {
        Claim::Replay(answer) => {
            metrics::counter!("api_idempotent_replays_total").increment(1);
            let mut r = accepted(meta.trace, &answer);
            r.headers_mut().insert(
                "idempotent-replayed",
                axum::http::HeaderValue::from_static("true"),
            );
            return Ok(r);
        }
        Claim::Fresh | Claim::Unavailable => {}
    }
    let quote = match price_order(&state, &req).await {
        Ok(q) => q,
        Err(p) => {
            state.idempotency.release(user, &key).await;
            return Err(p);
        }
    };
    let record = req.into_record(user, &key, &meta, super::now_ms(), quote);
    if let Err(p) = produce(
        &state,
        ORDERS_PLACED,
        &record.order_id,
        Some(&record),
        &meta,
    )
    .await
    {
        state.idempotency.release(user, &key).await;
        return Err(p);
    }
    let answer = OrderAccepted {
        event_id: meta.event_id,
        order_id: record.order_id.clone(),
        total_minor: record.total_minor,
        currency: record.currency.clone(),
    };
    let json = serde_json::to_value(&answer).expect("serialisable");
    state.idempotency.complete(user, &key, &print, json).await;
    Ok(accepted(meta.trace, &answer))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::read::views::{PriceView, Source};
    use techpotli_telemetry::TraceParent;

    fn order(lines: usize) -> serde_json::Value {
        let lines: Vec<_> = (0..lines)
            .map(|i| serde_json::json!({"sku": format!("SKU-{i}"), "quantity": 2, "unit_price_minor": 1000}))
            .collect();
        serde_json::json!({"currency": "INR", "lines": lines, "shipping_address": {"recipient_name": "Asha",
            "line1": "1 MG Road", "city": "Pune", "postal_code": "411001", "country_code": "IN"}})
    }

    /// Every SKU-n at 1000 INR.
    fn prices() -> BTreeMap<String, PriceView> {
        (0..200)
            .map(|i| {
                let sku = format!("SKU-{i}");
                let p = PriceView {
                    sku: sku.clone(),
                    list_price_minor: 1200,
                    effective_price_minor: 1000,
                    currency: "INR".into(),
                    applied_rule_ids: vec![],
                    valid_until_ms: None,
                    event_time_ms: 0,
                    source: Source::Redis,
                };
                (sku, p)
            })
            .collect()
    }

    /// What the handler does after parsing, minus the I/O.
    fn go(v: serde_json::Value) -> Result<OrderPlaced, Problem> {
        let r: OrderRequest = serde_json::from_value(v).unwrap();
        r.validate()?;
        let q = quote(&r.lines(), &prices())?;
        check(&r.expected(), &q)?;
        Ok(r.into_record("u-1", "k-1", &Meta::new(TraceParent::new_root()), 1, q))
    }

    #[test]
    fn the_server_prices_the_order_and_the_id_is_deterministic() {
        let r = go(order(3)).unwrap();
        assert_eq!(r.subtotal_minor, 6000);
        assert_eq!(r.total_minor, 6000);
        assert_eq!(r.lines[0].unit_price_minor, 1000);
        assert_eq!(r.order_id, order_id("u-1", "k-1"));
        assert_ne!(order_id("u-1", "k-2"), order_id("u-1", "k-1"));
        assert_ne!(order_id("u-2", "k-1"), order_id("u-1", "k-1"));
    }

    #[test]
    fn a_client_that_sends_no_amounts_pays_the_server_prices() {
        let mut o = order(2);
        for l in o["lines"].as_array_mut().unwrap() {
            l.as_object_mut().unwrap().remove("unit_price_minor");
        }
        o.as_object_mut().unwrap().remove("currency");
        assert_eq!(go(o).unwrap().total_minor, 4000);
    }

    #[test]
    fn a_lowered_price_or_charge_is_a_conflict_never_a_cheaper_order() {
        let mut o = order(2);
        o["lines"][1]["unit_price_minor"] = 1.into();
        let p = go(o).unwrap_err();
        assert_eq!(p.status, 409);
        assert_eq!(p.field.as_deref(), Some("body.lines[1].unit_price_minor"));
        assert_eq!(p.quote.unwrap().total_minor, 4000);
        let mut o = order(1);
        o["discount_minor"] = 1000.into();
        assert_eq!(
            go(o).unwrap_err().field.as_deref(),
            Some("body.discount_minor")
        );
    }

    #[test]
    fn limits_name_the_field() {
        assert!(go(order(100)).is_ok());
        assert_eq!(go(order(101)).unwrap_err().field.unwrap(), "body.lines");
        assert_eq!(go(order(0)).unwrap_err().field.unwrap(), "body.lines");
        let mut o = order(2);
        o["lines"][1]["sku"] = "SKU-0".into();
        assert_eq!(go(o).unwrap_err().field.unwrap(), "body.lines[1].sku");
        let mut o = order(2);
        o["lines"][1]["quantity"] = 1001.into();
        assert_eq!(go(o).unwrap_err().field.unwrap(), "body.lines[1].quantity");
        let mut o = order(1);
        o["lines"][0]["sku"] = "NO-PRICE".into();
        assert_eq!(go(o).unwrap_err().field.unwrap(), "body.lines[0].sku");
        let mut o = order(1);
        o["shipping_address"]["country_code"] = "India".into();
        assert_eq!(
            go(o).unwrap_err().field.unwrap(),
            "body.shipping_address.country_code"
        );
    }
}
