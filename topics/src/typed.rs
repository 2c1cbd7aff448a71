//! Typed topic descriptors: a topic's name bound to its value type, so producers and consumers
//! cannot pair a topic with the wrong schema. Keys are strings on every topic.

use std::marker::PhantomData;

use techpotli_schemas::AvroRecord;
use techpotli_schemas::types::analytics::{
    CartAbandonmentWindow, FunnelWindow, ProductPopularityWindow, RevenueWindow,
};
use techpotli_schemas::types::carts::CartEvent;
use techpotli_schemas::types::catalog::{PriceRuleUpserted, ProductUpserted};
use techpotli_schemas::types::customers::CustomerUpserted;
use techpotli_schemas::types::inventory::{
    ReservationRequest, ReservationResult, StockAdjusted, StockLevel,
};
use techpotli_schemas::types::notifications::NotificationRequested;
use techpotli_schemas::types::orders::{OrderPlaced, OrderStatusChanged};
use techpotli_schemas::types::payments::{PaymentEvent, RefundRequested};
use techpotli_schemas::types::pricing::{CartPriced, PriceChanged};
use techpotli_schemas::types::storefront::UserActivity;

use crate::names::{self, TopicName};

/// A topic whose values are `V` (Avro, Confluent-framed, subject `<name>-value`).
#[derive(Debug)]
pub struct Topic<V> {
    pub name: TopicName,
    value: PhantomData<fn() -> V>,
}

impl<V> Clone for Topic<V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V> Copy for Topic<V> {}

impl<V: AvroRecord> Topic<V> {
    pub const fn new(name: TopicName) -> Self {
        Self {
            name,
            value: PhantomData,
        }
    }
    pub const fn name(self) -> &'static str {
        self.name.as_str()
    }
    /// The schema file of the value type (must equal the catalogue's `value_schema`).
    pub const fn schema_file(self) -> &'static str {
        V::SCHEMA_FILE
    }
}

pub const CATALOG_PRODUCTS: Topic<ProductUpserted> = Topic::new(names::CATALOG_PRODUCTS);
pub const CATALOG_PRICE_RULES: Topic<PriceRuleUpserted> = Topic::new(names::CATALOG_PRICE_RULES);
pub const CUSTOMERS_PROFILES: Topic<CustomerUpserted> = Topic::new(names::CUSTOMERS_PROFILES);
pub const INVENTORY_ADJUSTMENTS: Topic<StockAdjusted> = Topic::new(names::INVENTORY_ADJUSTMENTS);
pub const STOREFRONT_ACTIVITY: Topic<UserActivity> = Topic::new(names::STOREFRONT_ACTIVITY);
pub const CARTS_EVENTS: Topic<CartEvent> = Topic::new(names::CARTS_EVENTS);
pub const ORDERS_PLACED: Topic<OrderPlaced> = Topic::new(names::ORDERS_PLACED);
pub const PAYMENTS_EVENTS: Topic<PaymentEvent> = Topic::new(names::PAYMENTS_EVENTS);
pub const PAYMENTS_REFUND_REQUESTS: Topic<RefundRequested> =
    Topic::new(names::PAYMENTS_REFUND_REQUESTS);
pub const INVENTORY_RESERVATION_REQUESTS: Topic<ReservationRequest> =
    Topic::new(names::INVENTORY_RESERVATION_REQUESTS);
pub const INVENTORY_RESERVATIONS: Topic<ReservationResult> =
    Topic::new(names::INVENTORY_RESERVATIONS);
pub const INVENTORY_LEVELS: Topic<StockLevel> = Topic::new(names::INVENTORY_LEVELS);
pub const ORDERS_STATUS: Topic<OrderStatusChanged> = Topic::new(names::ORDERS_STATUS);
pub const PRICING_PRICES: Topic<PriceChanged> = Topic::new(names::PRICING_PRICES);
pub const PRICING_CARTS: Topic<CartPriced> = Topic::new(names::PRICING_CARTS);
pub const NOTIFICATIONS_REQUESTS: Topic<NotificationRequested> =
    Topic::new(names::NOTIFICATIONS_REQUESTS);
pub const ANALYTICS_REVENUE_PER_MINUTE: Topic<RevenueWindow> =
    Topic::new(names::ANALYTICS_REVENUE_PER_MINUTE);
pub const ANALYTICS_FUNNEL: Topic<FunnelWindow> = Topic::new(names::ANALYTICS_FUNNEL);
pub const ANALYTICS_TOP_PRODUCTS: Topic<ProductPopularityWindow> =
    Topic::new(names::ANALYTICS_TOP_PRODUCTS);
pub const ANALYTICS_CART_ABANDONMENT: Topic<CartAbandonmentWindow> =
    Topic::new(names::ANALYTICS_CART_ABANDONMENT);

/// `(name, schema file)` of every typed descriptor, for the agreement test.
pub fn all() -> Vec<(&'static str, &'static str)> {
    macro_rules! pairs {
        ($($t:ident),+ $(,)?) => { vec![$(($t.name(), $t.schema_file())),+] };
    }
    pairs!(
        CATALOG_PRODUCTS,
        CATALOG_PRICE_RULES,
        CUSTOMERS_PROFILES,
        INVENTORY_ADJUSTMENTS,
        STOREFRONT_ACTIVITY,
        CARTS_EVENTS,
        ORDERS_PLACED,
        PAYMENTS_EVENTS,
        PAYMENTS_REFUND_REQUESTS,
        INVENTORY_RESERVATION_REQUESTS,
        INVENTORY_RESERVATIONS,
        INVENTORY_LEVELS,
        ORDERS_STATUS,
        PRICING_PRICES,
        PRICING_CARTS,
        NOTIFICATIONS_REQUESTS,
        ANALYTICS_REVENUE_PER_MINUTE,
        ANALYTICS_FUNNEL,
        ANALYTICS_TOP_PRODUCTS,
        ANALYTICS_CART_ABANDONMENT,
    )
}

#[cfg(test)]
mod tests {
    /// Also keeps `names` complete: every catalogue topic has a constant and a descriptor.
    #[test]
    fn every_descriptor_pairs_its_topic_with_the_catalogued_schema() {
        let typed = super::all();
        let catalogue: Vec<(&str, &str)> = crate::catalogue()
            .topics
            .iter()
            .map(|t| (t.name.as_str(), t.value_schema.as_str()))
            .collect();
        assert_eq!(typed, catalogue);
    }

    #[test]
    fn every_value_schema_file_exists() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/avro");
        for t in &crate::catalogue().topics {
            assert!(
                dir.join(&t.value_schema).is_file(),
                "{}: missing schemas/avro/{}",
                t.name,
                t.value_schema
            );
        }
    }
}
