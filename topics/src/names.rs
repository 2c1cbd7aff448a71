//! One constant per catalogue topic; a test keeps this list and `topics.toml` identical.

/// A topic's name, typed so it cannot be confused with other strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicName(pub &'static str);

impl TopicName {
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for TopicName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

pub const CATALOG_PRODUCTS: TopicName = TopicName("catalog.products");
pub const CATALOG_PRICE_RULES: TopicName = TopicName("catalog.price-rules");
pub const CUSTOMERS_PROFILES: TopicName = TopicName("customers.profiles");
pub const INVENTORY_ADJUSTMENTS: TopicName = TopicName("inventory.adjustments");
pub const STOREFRONT_ACTIVITY: TopicName = TopicName("storefront.activity");
pub const CARTS_EVENTS: TopicName = TopicName("carts.events");
pub const ORDERS_PLACED: TopicName = TopicName("orders.placed");
pub const PAYMENTS_EVENTS: TopicName = TopicName("payments.events");
pub const INVENTORY_RESERVATION_REQUESTS: TopicName = TopicName("inventory.reservation-requests");
pub const INVENTORY_RESERVATIONS: TopicName = TopicName("inventory.reservations");
pub const INVENTORY_LEVELS: TopicName = TopicName("inventory.levels");
pub const ORDERS_STATUS: TopicName = TopicName("orders.status");
pub const PRICING_PRICES: TopicName = TopicName("pricing.prices");
pub const PRICING_CARTS: TopicName = TopicName("pricing.carts");
pub const NOTIFICATIONS_REQUESTS: TopicName = TopicName("notifications.requests");
pub const ANALYTICS_REVENUE_PER_MINUTE: TopicName = TopicName("analytics.revenue-per-minute");
pub const ANALYTICS_FUNNEL: TopicName = TopicName("analytics.funnel");
pub const ANALYTICS_TOP_PRODUCTS: TopicName = TopicName("analytics.top-products");
pub const ANALYTICS_CART_ABANDONMENT: TopicName = TopicName("analytics.cart-abandonment");

/// Every constant above, in catalogue order.
pub const ALL: &[TopicName] = &[
    CATALOG_PRODUCTS,
    CATALOG_PRICE_RULES,
    CUSTOMERS_PROFILES,
    INVENTORY_ADJUSTMENTS,
    STOREFRONT_ACTIVITY,
    CARTS_EVENTS,
    ORDERS_PLACED,
    PAYMENTS_EVENTS,
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
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_and_catalogue_list_the_same_topics_in_the_same_order() {
        let declared: Vec<&str> = crate::catalogue()
            .topics
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        let constants: Vec<&str> = ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(constants, declared);
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
