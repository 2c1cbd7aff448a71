//! The topics the read-model sinks (MySQL, Redis) materialise, as one value so both sinks and
//! their tests name the same set (tests may rename them): the order flow's outputs and the
//! prices orders are priced from.

use crate::names;

/// `orders.placed`, `orders.status`, `inventory.levels`, `pricing.prices` (both sinks) and
/// `pricing.carts` (Redis only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFlowTopics {
    pub placed: String,
    pub status: String,
    pub levels: String,
    pub prices: String,
    pub carts: String,
}

impl Default for OrderFlowTopics {
    fn default() -> Self {
        Self {
            placed: names::ORDERS_PLACED.as_str().into(),
            status: names::ORDERS_STATUS.as_str().into(),
            levels: names::INVENTORY_LEVELS.as_str().into(),
            prices: names::PRICING_PRICES.as_str().into(),
            carts: names::PRICING_CARTS.as_str().into(),
        }
    }
}

impl OrderFlowTopics {
    /// What both sinks materialise (the MySQL sink's inputs).
    pub fn all(&self) -> [&str; 4] {
        [&self.placed, &self.status, &self.levels, &self.prices]
    }

    /// The Redis sink's inputs: [`Self::all`] and the priced carts.
    pub fn redis(&self) -> [&str; 5] {
        [
            &self.placed,
            &self.status,
            &self.levels,
            &self.prices,
            &self.carts,
        ]
    }
}
