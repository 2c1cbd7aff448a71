//! Carts, pure: a cart's lines as cart events change them, and its price from the prices of its
//! SKUs. No I/O; the processor keeps a [`Cart`] per cart id and feeds it events and prices.
//!
//! Policy (docs/pricing.md): lines keep the order SKUs were first added; a line is priced at
//! its SKU's current effective price; the cart's currency is that of its first priced line (the
//! store's [`DEFAULT_CURRENCY`] when none is priced), and a line without a price or priced in
//! another currency is *unpriced*: listed, not counted, not checkable out. No cart-level
//! discount exists yet (0).

use serde::{Deserialize, Serialize};

/// Currency of a cart none of whose lines has a price.
pub const DEFAULT_CURRENCY: &str = "INR";
/// Most units of one SKU a cart holds (the API's per-request limit is 1000).
pub const MAX_QUANTITY: i32 = 1_000_000;

/// A SKU's price as a cart line needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitPrice {
    pub list_minor: i64,
    pub effective_minor: i64,
    pub currency: String,
}

/// One line of a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub sku: String,
    pub quantity: i32,
    /// The SKU's price as last heard; `None`: no price (or none heard yet).
    pub price: Option<UnitPrice>,
    /// A price lookup is on its way: the cart is not published until it arrives.
    pub awaiting: bool,
}

/// A cart's contents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub user_id: Option<String>,
    pub lines: Vec<Line>,
}

/// A change of a cart's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Add {
        sku: String,
        quantity: i32,
    },
    /// `None`: the whole line.
    Remove {
        sku: String,
        quantity: Option<i32>,
    },
    Clear,
}

/// One priced line of a [`Priced`] cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub sku: String,
    pub quantity: i32,
    pub list_unit_price_minor: i64,
    pub unit_price_minor: i64,
    pub line_total_minor: i64,
}

/// A cart at current prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    pub currency: String,
    pub lines: Vec<PricedLine>,
    pub unpriced_skus: Vec<String>,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub total_minor: i64,
}

impl Cart {
    /// Applies a change; returns `(sku, new quantity)` of every line it changed (0: gone), in
    /// line order. A line whose quantity rose from 0 awaits its price.
    pub fn apply(&mut self, change: Change) -> Vec<(String, i32)> {
        match change {
            Change::Add { sku, quantity } => {
                let q = quantity.max(0);
                if let Some(l) = self.lines.iter_mut().find(|l| l.sku == sku) {
                    l.quantity = l.quantity.saturating_add(q).min(MAX_QUANTITY);
                    vec![(sku, l.quantity)]
                } else if q > 0 {
                    self.lines.push(Line {
                        sku: sku.clone(),
                        quantity: q.min(MAX_QUANTITY),
                        price: None,
                        awaiting: true,
                    });
                    vec![(sku, q.min(MAX_QUANTITY))]
                } else {
                    Vec::new()
                }
            }
            Change::Remove { sku, quantity } => {
                let Some(i) = self.lines.iter().position(|l| l.sku == sku) else {
                    return Vec::new();
                };
                let left = quantity.map_or(0, |q| (self.lines[i].quantity - q.max(0)).max(0));
                if left == 0 {
                    self.lines.remove(i);
                } else {
                    self.lines[i].quantity = left;
                }
                vec![(sku, left)]
            }
            Change::Clear => self.lines.drain(..).map(|l| (l.sku, 0)).collect(),
        }
    }

    /// Records the price of `sku` (`None`: it has none). Returns whether the cart holds it.
    pub fn set_price(&mut self, sku: &str, price: Option<UnitPrice>) -> bool {
        match self.lines.iter_mut().find(|l| l.sku == sku) {
            Some(l) => {
                l.price = price;
                l.awaiting = false;
                true
            }
            None => false,
        }
    }

    /// Whether every line's price has been heard (the cart may be published).
    pub fn settled(&self) -> bool {
        self.lines.iter().all(|l| !l.awaiting)
    }

    /// The cart at the prices it holds.
    pub fn priced(&self) -> Priced {
        let currency = self
            .lines
            .iter()
            .find_map(|l| l.price.as_ref().map(|p| p.currency.clone()))
            .unwrap_or_else(|| DEFAULT_CURRENCY.to_owned());
        let mut lines = Vec::new();
        let mut unpriced = Vec::new();
        let mut subtotal: i64 = 0;
        for l in &self.lines {
            match &l.price {
                Some(p) if p.currency == currency => {
                    let total = i64::from(l.quantity).saturating_mul(p.effective_minor);
                    subtotal = subtotal.saturating_add(total);
                    lines.push(PricedLine {
                        sku: l.sku.clone(),
                        quantity: l.quantity,
                        list_unit_price_minor: p.list_minor,
                        unit_price_minor: p.effective_minor,
                        line_total_minor: total,
                    });
                }
                _ => unpriced.push(l.sku.clone()),
            }
        }
        Priced {
            currency,
            lines,
            unpriced_skus: unpriced,
            subtotal_minor: subtotal,
            discount_minor: 0,
            total_minor: subtotal,
        }
    }
}

#[cfg(test)]
#[path = "cart_tests.rs"]
mod tests;
