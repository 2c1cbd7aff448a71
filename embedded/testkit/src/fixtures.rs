//! Records of the order-flow topics with fixed, valid contents, for tests that need many of
//! them and care only about ids and counts.

use techpotli_schemas::types::inventory::{StockChangeReason, StockLevel};
use techpotli_schemas::types::orders::{
    OrderLine, OrderPlaced, OrderState, OrderStatusChanged, ShippingAddress,
};

/// Order `order_id` of `user_id` placed at `event_time`: `lines` are (sku, quantity, unit
/// price in minor units), INR, totals derived, a fixed address in Bengaluru.
pub fn placed(
    order_id: &str,
    user_id: &str,
    lines: &[(&str, i32, i64)],
    event_time: i64,
) -> OrderPlaced {
    let lines: Vec<OrderLine> = lines
        .iter()
        .map(|&(sku, quantity, unit_price_minor)| OrderLine {
            sku: sku.into(),
            quantity,
            unit_price_minor,
        })
        .collect();
    let subtotal: i64 = lines
        .iter()
        .map(|l| i64::from(l.quantity) * l.unit_price_minor)
        .sum();
    OrderPlaced {
        event_id: uuid::Uuid::now_v7(),
        event_time,
        order_id: order_id.into(),
        user_id: user_id.into(),
        idempotency_key: format!("idem-{order_id}"),
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
            line1: "12 MG Road".into(),
            line2: None,
            city: "Bengaluru".into(),
            region: Some("KA".into()),
            postal_code: "560001".into(),
            country_code: "IN".into(),
            phone: None,
        },
    }
}

/// Order `id` of user `user-{id}`: one line of 2 × 12.50 INR per SKU.
pub fn order(id: &str, skus: &[&str]) -> OrderPlaced {
    let lines: Vec<_> = skus.iter().map(|s| (*s, 2, 1250)).collect();
    placed(id, &format!("user-{id}"), &lines, 1_700_000_000_000)
}

/// The `seq`-th transition of order `id` (1: PLACED, 2: RESERVING, 3: CONFIRMED, cycling).
pub fn status(id: &str, seq: i32) -> OrderStatusChanged {
    let states = [
        OrderState::Placed,
        OrderState::Reserving,
        OrderState::Confirmed,
    ];
    let at = |s: i32| states[(s as usize - 1) % 3];
    OrderStatusChanged {
        event_id: uuid::Uuid::now_v7(),
        event_time: 1_700_000_000_000 + i64::from(seq),
        order_id: id.into(),
        user_id: format!("user-{id}"),
        sequence: seq,
        state: at(seq),
        previous_state: (seq > 1).then(|| at(seq - 1)),
        reason: None,
        total_minor: 2500,
        currency: "INR".into(),
    }
}

/// A level of `sku` after a reservation.
pub fn level(sku: &str, on_hand: i32, reserved: i32) -> StockLevel {
    StockLevel {
        event_id: uuid::Uuid::now_v7(),
        event_time: 1_700_000_000_000,
        sku: sku.into(),
        on_hand,
        reserved,
        available: (on_hand - reserved).max(0),
        flagged: on_hand < reserved,
        last_change_reason: StockChangeReason::Reservation,
    }
}
