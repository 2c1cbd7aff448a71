//! Builders of the pipeline's input events, with fresh UUIDv7 ids and the current time.

use techpotli_schemas::types::inventory::{StockAdjusted, StockAdjustmentReason};
use techpotli_schemas::types::orders::{OrderLine, OrderPlaced, ShippingAddress};
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

/// An order of `lines` (sku, quantity) at 100.00 INR a unit.
pub fn order(order_id: &str, user_id: &str, lines: &[(&str, i32)]) -> OrderPlaced {
    let lines: Vec<OrderLine> = lines
        .iter()
        .map(|(sku, quantity)| OrderLine {
            sku: (*sku).to_owned(),
            quantity: *quantity,
            unit_price_minor: 10_000,
        })
        .collect();
    let subtotal: i64 = lines
        .iter()
        .map(|l| i64::from(l.quantity) * l.unit_price_minor)
        .sum();
    OrderPlaced {
        event_id: uuid::Uuid::now_v7(),
        event_time: now(),
        order_id: order_id.to_owned(),
        user_id: user_id.to_owned(),
        idempotency_key: uuid::Uuid::now_v7().to_string(),
        cart_id: None,
        currency: "INR".into(),
        lines,
        subtotal_minor: subtotal,
        discount_minor: 0,
        shipping_minor: 0,
        tax_minor: 0,
        total_minor: subtotal,
        shipping_address: ShippingAddress {
            recipient_name: "Asha".into(),
            line1: "1 MG Road".into(),
            line2: None,
            city: "Bengaluru".into(),
            region: Some("KA".into()),
            postal_code: "560001".into(),
            country_code: "IN".into(),
            phone: None,
        },
    }
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
