//! The topics the read-model sinks (MySQL, Redis) materialise, as one value so both sinks and
//! their tests name the same set (tests may rename them): the order flow's outputs and the
//! prices orders are priced from.

use crate::names;

/// `orders.placed`, `orders.status`, `inventory.levels` and `pricing.prices`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFlowTopics {
    pub placed: String,
    pub status: String,
    pub levels: String,
    pub prices: String,
}

impl Default for OrderFlowTopics {
    fn default() -> Self {
        Self {
            placed: names::ORDERS_PLACED.as_str().into(),
            status: names::ORDERS_STATUS.as_str().into(),
            levels: names::INVENTORY_LEVELS.as_str().into(),
            prices: names::PRICING_PRICES.as_str().into(),
        }
    }
}

impl OrderFlowTopics {
    pub fn all(&self) -> [&str; 4] {
        [&self.placed, &self.status, &self.levels, &self.prices]
    }
}
