//! Samples of the compacted entity and aggregate topics.

use std::collections::BTreeMap;

use techpotli_schemas::types::*;

use super::{at, id, s, some};

pub fn product_upserted() -> Vec<ProductUpserted> {
    vec![ProductUpserted {
        event_id: id(1),
        event_time: at(1),
        sku: s("TSHIRT-RED-M"),
        product_id: s("TSHIRT-RED"),
        title: s("Red T-shirt, M"),
        description: some("Cotton crew neck."),
        category: s("apparel/tshirts"),
        brand: some("Potli"),
        attributes: BTreeMap::from([(s("colour"), s("red")), (s("size"), s("M"))]),
        list_price_minor: 49_900,
        currency: s("INR"),
        active: true,
        image_urls: vec![s("https://img.example/tshirt-red.jpg")],
    }]
}

pub fn price_rule_upserted() -> Vec<PriceRuleUpserted> {
    vec![PriceRuleUpserted {
        event_id: id(2),
        event_time: at(2),
        rule_id: s("monsoon-10"),
        name: s("Monsoon sale 10%"),
        kind: PriceRuleKind::PercentOff,
        percent_off_bps: Some(1000),
        amount_minor: Some(5_000),
        currency: some("INR"),
        scope: PriceRuleScope::Category,
        scope_value: some("apparel/tshirts"),
        valid_from: Some(at(0)),
        valid_until: Some(at(86_400)),
        priority: 10,
        active: true,
    }]
}

pub fn customer_upserted() -> Vec<CustomerUpserted> {
    vec![CustomerUpserted {
        event_id: id(3),
        event_time: at(3),
        user_id: s("kc-sub-42"),
        name: s("Asha Rao"),
        email: s("asha@example.in"),
        phone: some("+919812345678"),
        locale: s("en-IN"),
        notification_preferences: NotificationPreferences {
            email_enabled: false,
            sms_enabled: true,
            push_enabled: true,
            webhook_enabled: true,
            in_app_enabled: false,
            webhook_url: some("https://hooks.example/asha"),
            push_token: some("fcm:abc"),
        },
        marketing_opt_in: true,
    }]
}

pub fn stock_level() -> Vec<StockLevel> {
    vec![StockLevel {
        event_id: id(4),
        event_time: at(4),
        sku: s("TSHIRT-RED-M"),
        on_hand: 10,
        reserved: 3,
        available: 7,
        flagged: true,
        last_change_reason: StockChangeReason::Reservation,
    }]
}

pub fn price_changed() -> Vec<PriceChanged> {
    vec![PriceChanged {
        event_id: id(5),
        event_time: at(5),
        sku: s("TSHIRT-RED-M"),
        list_price_minor: 49_900,
        effective_price_minor: 44_910,
        currency: s("INR"),
        applied_rule_ids: vec![s("monsoon-10")],
        valid_until: Some(at(9)),
    }]
}

pub fn cart_priced() -> Vec<CartPriced> {
    vec![CartPriced {
        event_id: id(6),
        event_time: at(6),
        cart_id: s("cart-7"),
        user_id: some("kc-sub-42"),
        currency: s("INR"),
        lines: vec![PricedCartLine {
            sku: s("TSHIRT-RED-M"),
            quantity: 2,
            list_unit_price_minor: 49_900,
            unit_price_minor: 44_910,
            line_total_minor: 89_820,
        }],
        unpriced_skus: vec![s("MUG-BLUE")],
        subtotal_minor: 99_800,
        discount_minor: 9_980,
        total_minor: 89_820,
    }]
}

pub fn revenue_window() -> Vec<RevenueWindow> {
    vec![RevenueWindow {
        event_id: id(7),
        event_time: at(7),
        window_start: at(0),
        window_end: at(60),
        currency: s("INR"),
        revenue_minor: 1_234_500,
        orders: 17,
    }]
}

pub fn funnel_window() -> Vec<FunnelWindow> {
    vec![FunnelWindow {
        event_id: id(8),
        event_time: at(8),
        window_start: at(0),
        window_end: at(60),
        views: 1000,
        carts: 120,
        checkouts: 40,
        paid: 31,
    }]
}

pub fn product_popularity_window() -> Vec<ProductPopularityWindow> {
    vec![ProductPopularityWindow {
        event_id: id(9),
        event_time: at(9),
        window_start: at(0),
        window_end: at(60),
        sku: s("TSHIRT-RED-M"),
        views: 300,
        adds: 25,
        purchases: 9,
        revenue_minor: 404_190,
        currency: s("INR"),
    }]
}

pub fn cart_abandonment_window() -> Vec<CartAbandonmentWindow> {
    vec![CartAbandonmentWindow {
        event_id: id(10),
        event_time: at(10),
        window_start: at(0),
        window_end: at(3600),
        carts_started: 80,
        carts_abandoned: 52,
        abandoned_value_minor: 2_500_000,
        currency: s("INR"),
    }]
}
