//! The pricing rules, pure: `(product, rules, now) -> price`. No I/O, no clock; the caller says
//! what time it is. The same functions are the Arroyo UDFs (`udf/pricing`).
//!
//! # Policy (docs/pricing.md states it for admins)
//! 1. A rule **applies** to a SKU at time `t` when it is active, `valid_from <= t < valid_until`
//!    (a missing bound is open), its scope matches (SKU: equal; CATEGORY: the product's category
//!    is the path or lies under it, `bags` matches `bags/potli` but not `bagsx`; ALL), and, for
//!    an amount-off or fixed-price rule, its currency is the product's.
//! 2. Applying rules go in **order**: priority descending, then rule_id ascending.
//! 3. Starting from the list price, each rule in order changes the running price:
//!    percent-off subtracts `bps/10000` of it rounded half-up to a whole minor unit;
//!    amount-off subtracts its amount; fixed-price sets the price (even above the list price)
//!    and **ends** the evaluation — rules after it do not apply.
//! 4. The price never goes below zero: an amount-off larger than the running price leaves 0,
//!    and a rule that brings the price to 0 ends the evaluation.
//! 5. `applied_rule_ids` lists the rules that took effect, in the order applied.
//! 6. The price holds until the earliest future validity bound of a rule that could apply
//!    (same scope and currency, active): `valid_until` of the price.

use serde::{Deserialize, Serialize};

/// How a rule changes a unit price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Basis points off the running price, 1..=10000.
    PercentOff(u32),
    /// Minor units off the running price, in the rule's currency.
    AmountOff(i64),
    /// The unit price, in the rule's currency.
    FixedPrice(i64),
}

/// Which SKUs a rule targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    Sku(String),
    /// A category path: the path itself and everything under it.
    Category(String),
    All,
}

/// One price rule, as the admin defined it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub rule_id: String,
    pub kind: Kind,
    /// Currency of an amount-off or fixed-price rule's amount; `None` for percent-off.
    pub currency: Option<String>,
    pub scope: Scope,
    /// Inclusive start, ms since the epoch; `None`: always.
    pub valid_from: Option<i64>,
    /// Exclusive end, ms since the epoch; `None`: never ends.
    pub valid_until: Option<i64>,
    pub priority: i32,
    pub active: bool,
}

/// What pricing needs of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub sku: String,
    pub category: String,
    pub list_price_minor: i64,
    pub currency: String,
}

/// The price of one unit of a SKU at a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub list_price_minor: i64,
    pub effective_price_minor: i64,
    pub currency: String,
    pub applied_rule_ids: Vec<String>,
    /// When this price may next change because a rule starts or ends; `None`: no such time.
    pub valid_until: Option<i64>,
}

impl Rule {
    /// Whether the rule targets this product at all, whatever the time.
    pub fn targets(&self, p: &Product) -> bool {
        if !self.active {
            return false;
        }
        let scoped = match &self.scope {
            Scope::Sku(s) => *s == p.sku,
            Scope::Category(c) => category_contains(c, &p.category),
            Scope::All => true,
        };
        let currency_ok = match self.kind {
            Kind::PercentOff(_) => true,
            Kind::AmountOff(_) | Kind::FixedPrice(_) => {
                self.currency.as_deref() == Some(p.currency.as_str())
            }
        };
        scoped && currency_ok
    }

    /// Whether the rule is within its validity window at `now`.
    pub fn valid_at(&self, now: i64) -> bool {
        self.valid_from.is_none_or(|f| f <= now) && self.valid_until.is_none_or(|u| now < u)
    }

    /// Whether the rule applies to the product at `now` (policy point 1).
    pub fn applies(&self, p: &Product, now: i64) -> bool {
        self.targets(p) && self.valid_at(now)
    }

    /// The rule's validity bounds after `now`: the times at which it starts or stops applying.
    pub fn bounds_after(&self, now: i64) -> impl Iterator<Item = i64> {
        [self.valid_from, self.valid_until]
            .into_iter()
            .flatten()
            .filter(move |&t| t > now)
    }
}

/// A rule as records carry it: kind and scope as their Avro symbols, amounts as sent. What
/// [`RuleParts::validate`] turns into a [`Rule`] or refuses, for the processor and the UDFs
/// alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleParts<'a> {
    pub rule_id: &'a str,
    /// `PERCENT_OFF`, `AMOUNT_OFF` or `FIXED_PRICE`.
    pub kind: &'a str,
    pub percent_off_bps: Option<i64>,
    pub amount_minor: Option<i64>,
    pub currency: Option<&'a str>,
    /// `SKU`, `CATEGORY` or `ALL`.
    pub scope: &'a str,
    pub scope_value: Option<&'a str>,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    pub priority: i32,
    pub active: bool,
}

/// Most basis points a percent-off rule may take (100 %).
pub const MAX_BPS: i64 = 10_000;

impl RuleParts<'_> {
    /// The rule, or why it is not one: percent-off needs 1..=10000 bps and no amount;
    /// amount-off and fixed-price an amount >= 0, no bps, and a currency; SKU and CATEGORY a
    /// non-empty scope value, ALL none; `valid_from < valid_until` when both are set.
    pub fn validate(&self) -> Result<Rule, String> {
        let kind = match (self.kind, self.percent_off_bps, self.amount_minor) {
            ("PERCENT_OFF", Some(bps), None) if (1..=MAX_BPS).contains(&bps) => {
                Kind::PercentOff(bps as u32)
            }
            ("AMOUNT_OFF", None, Some(a)) if a >= 0 => Kind::AmountOff(a),
            ("FIXED_PRICE", None, Some(a)) if a >= 0 => Kind::FixedPrice(a),
            (k, bps, amount) => {
                return Err(format!(
                    "kind {k} with percent_off_bps {bps:?} and amount_minor {amount:?} (percent-off \
                     needs 1..=10000 bps and no amount; amount-off and fixed-price an amount >= 0 \
                     and no bps)"
                ));
            }
        };
        if matches!(kind, Kind::PercentOff(_)) == self.currency.is_some() {
            return Err("currency is set if and only if amount_minor is".into());
        }
        let scope = match (self.scope, self.scope_value) {
            ("SKU", Some(v)) if !v.is_empty() => Scope::Sku(v.to_owned()),
            ("CATEGORY", Some(v)) if !v.is_empty() => Scope::Category(v.to_owned()),
            ("ALL", None) => Scope::All,
            (s, v) => return Err(format!("scope {s} with scope_value {v:?}")),
        };
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && from >= until
        {
            return Err(format!(
                "valid_from {from} is not before valid_until {until}"
            ));
        }
        Ok(Rule {
            rule_id: self.rule_id.to_owned(),
            kind,
            currency: self.currency.map(str::to_owned),
            scope,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            priority: self.priority,
            active: self.active,
        })
    }
}

/// `category` equals `path` or lies under it (`a/b` contains `a/b/c`, not `a/bc`).
pub fn category_contains(path: &str, category: &str) -> bool {
    category == path
        || (category.len() > path.len()
            && category.starts_with(path)
            && category.as_bytes()[path.len()] == b'/')
}

/// `bps` basis points of `price`, rounded half-up to a whole minor unit. Never more than
/// `price` for `bps <= 10000`; computed in i128, so no overflow for any i64 price.
pub fn percent_of(price: i64, bps: u32) -> i64 {
    let bps = i128::from(bps.min(10_000));
    ((i128::from(price) * bps + 5_000) / 10_000) as i64
}

/// One rule's effect on the running price (policy points 3 and 4).
pub fn apply_one(kind: Kind, price: i64) -> i64 {
    match kind {
        Kind::PercentOff(bps) => price - percent_of(price, bps),
        Kind::AmountOff(amount) => price.saturating_sub(amount.max(0)).max(0),
        Kind::FixedPrice(amount) => amount.max(0),
    }
}

/// Rules in evaluation order: priority descending, then rule_id ascending.
pub fn ordered<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Vec<&'a Rule> {
    let mut v: Vec<&Rule> = rules.into_iter().collect();
    v.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then_with(|| a.rule_id.cmp(&b.rule_id))
    });
    v
}

/// The product's price at `now` under `rules` (any rules; those that do not apply are skipped).
pub fn price_at<'a>(p: &Product, rules: impl IntoIterator<Item = &'a Rule>, now: i64) -> Price {
    let targeting: Vec<&Rule> = rules.into_iter().filter(|r| r.targets(p)).collect();
    let valid_until = targeting.iter().flat_map(|r| r.bounds_after(now)).min();
    let mut price = p.list_price_minor.max(0);
    let mut applied = Vec::new();
    for r in ordered(targeting.into_iter().filter(|r| r.valid_at(now))) {
        price = apply_one(r.kind, price);
        applied.push(r.rule_id.clone());
        if matches!(r.kind, Kind::FixedPrice(_)) || price == 0 {
            break;
        }
    }
    Price {
        list_price_minor: p.list_price_minor,
        effective_price_minor: price,
        currency: p.currency.clone(),
        applied_rule_ids: applied,
        valid_until,
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
