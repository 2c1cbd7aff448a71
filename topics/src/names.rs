//! One constant per catalogue topic; the `typed` test keeps them and `topics.toml` identical.

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
pub const PAYMENTS_REFUND_REQUESTS: TopicName = TopicName("payments.refund-requests");
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
