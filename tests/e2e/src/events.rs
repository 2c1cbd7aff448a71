//! Builders of the pipeline's input events, with fresh UUIDv7 ids and the current time.

use techpotli_schemas::types::carts::{
    CartEvent, CartEventPayload, CartItemAdded, CartItemRemoved,
};
use techpotli_schemas::types::catalog::{
    PriceRuleKind, PriceRuleScope, PriceRuleUpserted, ProductUpserted,
};
use techpotli_schemas::types::inventory::{StockAdjusted, StockAdjustmentReason};
use techpotli_schemas::types::orders::OrderPlaced;
use techpotli_schemas::types::payments::{
    PaymentAuthorized, PaymentEvent, PaymentEventPayload, PaymentFailed, PaymentFailureReason,
};

/// Milliseconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A restock (or, negative, damage) of `sku`.
pub fn stock(sku: &str, delta: i32) -> StockAdjusted {
    StockAdjusted {
        event_id: uuid::Uuid::now_v7(),
        event_time: now(),
        sku: sku.to_owned(),
        delta,
        reason: if delta > 0 {
            StockAdjustmentReason::Restock
        } else {
            StockAdjustmentReason::Damage
        },
        note: None,
        actor: "system:e2e".into(),
    }
}

/// An order of `lines` (sku, quantity) at 100.00 INR a unit, placed now.
pub fn order(order_id: &str, user_id: &str, lines: &[(&str, i32)]) -> OrderPlaced {
    let lines: Vec<_> = lines.iter().map(|&(sku, q)| (sku, q, 10_000)).collect();
    techpotli_testkit::fixtures::placed(order_id, user_id, &lines, now())
}

fn payment(order_id: &str, reference: &str, payload: PaymentEventPayload) -> PaymentEvent {
    PaymentEvent {
        event_id: uuid::Uuid::now_v7(),
        event_time: now(),
        order_id: order_id.to_owned(),
        provider: "fake".into(),
        provider_reference: reference.to_owned(),
        payload,
    }
}

pub fn authorized(order_id: &str, reference: &str, amount_minor: i64) -> PaymentEvent {
    payment(
        order_id,
        reference,
        PaymentEventPayload::PaymentAuthorized(PaymentAuthorized {
            amount_minor,
            currency: "INR".into(),
        }),
    )
}

pub fn failed(order_id: &str, reference: &str, amount_minor: i64) -> PaymentEvent {
    payment(
        order_id,
        reference,
        PaymentEventPayload::PaymentFailed(PaymentFailed {
            amount_minor,
            currency: "INR".into(),
            reason: PaymentFailureReason::Declined,
            provider_message: None,
        }),
    )
}

/// A catalogue entry for `sku` in `category` at `list_price_minor` INR.
pub fn product(sku: &str, category: &str, list_price_minor: i64, active: bool) -> ProductUpserted {
    ProductUpserted {
        event_id: uuid::Uuid::now_v7(),
        event_time: now(),
        sku: sku.to_owned(),
        product_id: sku.to_owned(),
        title: format!("Product {sku}"),
        description: None,
        category: category.to_owned(),
        brand: None,
        attributes: std::collections::BTreeMap::new(),
        list_price_minor,
        currency: "INR".into(),
        active,
        image_urls: Vec::new(),
    }
}

/// An active price rule `id` of `kind` (`PERCENT_OFF` takes `value` as basis points, the others
/// as INR minor units) on `scope`, valid always.
pub fn rule(
    id: &str,
    kind: PriceRuleKind,
    value: i64,
    scope: PriceRuleScope,
    scope_value: Option<&str>,
    priority: i32,
) -> PriceRuleUpserted {
    let percent = kind == PriceRuleKind::PercentOff;
    PriceRuleUpserted {
        event_id: uuid::Uuid::now_v7(),
        event_time: now(),
        rule_id: id.to_owned(),
        name: format!("rule {id}"),
        kind,
        percent_off_bps: percent.then_some(value as i32),
        amount_minor: (!percent).then_some(value),
        currency: (!percent).then(|| "INR".to_owned()),
        scope,
        scope_value: scope_value.map(str::to_owned),
        valid_from: None,
        valid_until: None,
        priority,
        active: true,
    }
}

/// A change of cart `cart_id` owned by `user`.
pub fn cart(cart_id: &str, user: &str, payload: CartEventPayload) -> CartEvent {
    CartEvent {
        event_id: uuid::Uuid::now_v7(),
        event_time: now(),
        cart_id: cart_id.to_owned(),
        user_id: Some(user.to_owned()),
        session_id: None,
        payload,
    }
}

/// `quantity` units of `sku` added to a cart.
pub fn added(sku: &str, quantity: i32) -> CartEventPayload {
    CartEventPayload::CartItemAdded(CartItemAdded {
        sku: sku.to_owned(),
        quantity,
    })
}

/// `sku` removed from a cart (`None`: the whole line).
pub fn removed(sku: &str, quantity: Option<i32>) -> CartEventPayload {
    CartEventPayload::CartItemRemoved(CartItemRemoved {
        sku: sku.to_owned(),
        quantity,
    })
}
