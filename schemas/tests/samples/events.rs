//! Samples of the event topics, one envelope per union member.

use techpotli_schemas::types::*;

use super::{at, id, s, some};

pub fn stock_adjusted() -> Vec<StockAdjusted> {
    vec![StockAdjusted {
        event_id: id(20),
        event_time: at(20),
        sku: s("TSHIRT-RED-M"),
        delta: -2,
        reason: StockAdjustmentReason::Damage,
        note: some("water damage, PO-17"),
        actor: s("kc-sub-admin"),
    }]
}

pub fn user_activity() -> Vec<UserActivity> {
    vec![UserActivity {
        event_id: id(21),
        event_time: at(21),
        session_id: s("sess-1"),
        user_id: some("kc-sub-42"),
        kind: ActivityKind::Search,
        sku: some("TSHIRT-RED-M"),
        query: some("red tshirt"),
        url: some("/search?q=red+tshirt"),
        referrer: some("https://www.example/"),
        user_agent: some("Mozilla/5.0"),
    }]
}

pub fn cart_event() -> Vec<CartEvent> {
    let envelope = |n, payload| CartEvent {
        event_id: id(n),
        event_time: at(22),
        cart_id: s("cart-7"),
        user_id: some("kc-sub-42"),
        session_id: some("sess-1"),
        payload,
    };
    vec![
        envelope(
            22,
            CartEventPayload::CartItemAdded(CartItemAdded {
                sku: s("TSHIRT-RED-M"),
                quantity: 2,
            }),
        ),
        envelope(
            23,
            CartEventPayload::CartItemRemoved(CartItemRemoved {
                sku: s("TSHIRT-RED-M"),
                quantity: Some(1),
            }),
        ),
        envelope(
            24,
            CartEventPayload::CartCleared(CartCleared {
                reason: CartClearedReason::CheckedOut,
            }),
        ),
    ]
}

pub fn order_placed() -> Vec<OrderPlaced> {
    vec![OrderPlaced {
        event_id: id(25),
        event_time: at(25),
        order_id: s("ord-1"),
        user_id: s("kc-sub-42"),
        idempotency_key: s("idem-1"),
        cart_id: some("cart-7"),
        currency: s("INR"),
        lines: vec![
            OrderLine {
                sku: s("TSHIRT-RED-M"),
                quantity: 2,
                unit_price_minor: 44_910,
            },
            OrderLine {
                sku: s("MUG-BLUE"),
                quantity: 1,
                unit_price_minor: 29_900,
            },
        ],
        subtotal_minor: 119_720,
        discount_minor: 0,
        shipping_minor: 4_900,
        tax_minor: 21_550,
        total_minor: 146_170,
        shipping_address: ShippingAddress {
            recipient_name: s("Asha Rao"),
            line1: s("12 MG Road"),
            line2: some("Flat 4B"),
            city: s("Bengaluru"),
            region: some("KA"),
            postal_code: s("560001"),
            country_code: s("IN"),
            phone: some("+919812345678"),
        },
    }]
}

pub fn payment_event() -> Vec<PaymentEvent> {
    let envelope = |n, payload| PaymentEvent {
        event_id: id(n),
        event_time: at(26),
        order_id: s("ord-1"),
        provider: s("razorpay"),
        provider_reference: s("pay_123"),
        payload,
    };
    vec![
        envelope(
            26,
            PaymentEventPayload::PaymentAuthorized(PaymentAuthorized {
                amount_minor: 146_170,
                currency: s("INR"),
            }),
        ),
        envelope(
            27,
            PaymentEventPayload::PaymentFailed(PaymentFailed {
                amount_minor: 146_170,
                currency: s("INR"),
                reason: PaymentFailureReason::InsufficientFunds,
                provider_message: some("NSF"),
            }),
        ),
        envelope(
            28,
            PaymentEventPayload::PaymentRefunded(PaymentRefunded {
                amount_minor: 146_170,
                currency: s("INR"),
                refund_reference: s("rfnd_9"),
                reason: some("order cancelled"),
            }),
        ),
    ]
}

pub fn refund_requested() -> Vec<RefundRequested> {
    vec![RefundRequested {
        event_id: id(29),
        event_time: at(29),
        order_id: s("ord-1"),
        user_id: s("user-1"),
        provider: s("razorpay"),
        provider_reference: s("pay_123"),
        amount_minor: 146_170,
        currency: s("INR"),
        reason: s("payment after cancellation: payment timeout"),
    }]
}

pub fn reservation_request() -> Vec<ReservationRequest> {
    let envelope = |n, payload| ReservationRequest {
        event_id: id(n),
        event_time: at(29),
        order_id: s("ord-1"),
        sku: s("TSHIRT-RED-M"),
        payload,
    };
    vec![
        envelope(
            29,
            ReservationRequestPayload::ReserveStock(ReserveStock { quantity: 2 }),
        ),
        envelope(
            30,
            ReservationRequestPayload::ReleaseStock(ReleaseStock {
                quantity: 2,
                reason: ReleaseReason::PaymentTimeout,
            }),
        ),
    ]
}

pub fn reservation_result() -> Vec<ReservationResult> {
    let envelope = |n, payload| ReservationResult {
        event_id: id(n),
        event_time: at(31),
        order_id: s("ord-1"),
        sku: s("TSHIRT-RED-M"),
        request_event_id: id(29).to_string(),
        payload,
    };
    vec![
        envelope(
            31,
            ReservationResultPayload::StockReserved(StockReserved { quantity: 2 }),
        ),
        envelope(
            32,
            ReservationResultPayload::StockRejected(StockRejected {
                requested_quantity: 5,
                available: 3,
                reason: StockRejectionReason::InsufficientStock,
            }),
        ),
        envelope(
            33,
            ReservationResultPayload::StockReleased(StockReleased { quantity: 2 }),
        ),
    ]
}

pub fn order_status_changed() -> Vec<OrderStatusChanged> {
    vec![OrderStatusChanged {
        event_id: id(34),
        event_time: at(34),
        order_id: s("ord-1"),
        user_id: s("kc-sub-42"),
        sequence: 3,
        state: OrderState::AwaitingPayment,
        previous_state: Some(OrderState::Reserved),
        reason: some("all lines reserved"),
        total_minor: 146_170,
        currency: s("INR"),
    }]
}

pub fn notification_requested() -> Vec<NotificationRequested> {
    vec![NotificationRequested {
        event_id: id(35),
        event_time: at(35),
        notification_id: s("ntf-1"),
        user_id: s("kc-sub-42"),
        channel: NotificationChannel::Webhook,
        template: s("order_confirmed"),
        locale: s("en-IN"),
        params: [(s("order_id"), s("ord-1")), (s("total"), s("₹1,461.70"))].into(),
        destination: s("https://hooks.example/asha"),
        source_event_id: id(34).to_string(),
    }]
}
