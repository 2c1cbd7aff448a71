//! Builders of the pipeline's input events, with fresh UUIDv7 ids and the current time.

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
