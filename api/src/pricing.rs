//! Server-side order pricing: what an order costs comes from the price read model
//! (`pricing.prices` as the sinks materialised it), never from the client. A client may send
//! the amounts it showed the customer; they are expectations, and one that differs from the
//! server's gets `409` with the server's [`Quote`], so the storefront can show the new total
//! and ask again. Pure functions; the handler does the reads.
//!
//! Charges policy (until coupons, shipping rates and tax rules exist as their own data):
//! prices are tax-inclusive (tax 0), shipping is free (0) and there is no order-level discount
//! (0). Item-level discounts are already in the effective prices.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::problem::Problem;
use crate::read::views::PriceView;

/// One line as the server prices it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuoteLine {
    pub sku: String,
    pub quantity: i32,
    /// The SKU's current effective price per unit, minor units.
    pub unit_price_minor: i64,
}

/// What an order costs now, by the server's prices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quote {
    /// ISO 4217 code of every amount.
    pub currency: String,
    pub lines: Vec<QuoteLine>,
    pub subtotal_minor: i64,
    pub discount_minor: i64,
    pub shipping_minor: i64,
    pub tax_minor: i64,
    /// `subtotal - discount + shipping + tax`: what the payment must authorise.
    pub total_minor: i64,
}

/// Prices `lines` (sku, quantity; already validated) at `prices`. A SKU without a price
/// (unknown, deleted or not for sale) or lines in two currencies are the client's to fix: 422
/// naming the line.
pub fn quote(
    lines: &[(&str, i32)],
    prices: &BTreeMap<String, PriceView>,
) -> Result<Quote, Problem> {
    let mut currency: Option<&str> = None;
    let mut out = Vec::with_capacity(lines.len());
    let mut subtotal: i64 = 0;
    for (i, &(sku, quantity)) in lines.iter().enumerate() {
        let field = format!("body.lines[{i}].sku");
        let p = prices.get(sku).ok_or_else(|| {
            Problem::invalid(
                &field,
                format!("{sku} has no price: unknown or not for sale"),
            )
        })?;
        match currency {
            None => currency = Some(&p.currency),
            Some(c) if c != p.currency => {
                return Err(Problem::invalid(
                    field,
                    format!(
                        "{sku} is priced in {}, the lines before it in {c}: order them separately",
                        p.currency
                    ),
                ));
            }
            Some(_) => {}
        }
        subtotal = i64::from(quantity)
            .checked_mul(p.effective_price_minor)
            .and_then(|line| subtotal.checked_add(line))
            .ok_or_else(|| Problem::invalid("body.lines", "the order's total is too large"))?;
        out.push(QuoteLine {
            sku: sku.to_owned(),
            quantity,
            unit_price_minor: p.effective_price_minor,
        });
    }
    let (discount, shipping, tax) = (0, 0, 0);
    Ok(Quote {
        currency: currency.unwrap_or_default().to_owned(),
        lines: out,
        subtotal_minor: subtotal,
        discount_minor: discount,
        shipping_minor: shipping,
        tax_minor: tax,
        total_minor: subtotal - discount + shipping + tax,
    })
}

/// The client's figures for an order: each `None` when it sent none.
#[derive(Debug, Clone, Default)]
pub struct Expected<'a> {
    pub currency: Option<&'a str>,
    /// Per line, in the quote's order.
    pub unit_prices: Vec<Option<i64>>,
    pub discount_minor: Option<i64>,
    pub shipping_minor: Option<i64>,
    pub tax_minor: Option<i64>,
}

/// `Ok` when every figure the client sent is the server's; otherwise 409 naming the first
/// that differs, with the server's quote.
pub fn check(expected: &Expected<'_>, q: &Quote) -> Result<(), Problem> {
    let differs = |field: String, sent: String, now: String| {
        Err(Problem::price_changed(
            field,
            format!(
                "you sent {sent}, the current figure is {now}: review the quote and place the order again"
            ),
            q.clone(),
        ))
    };
    if let Some(c) = expected.currency
        && c != q.currency
    {
        return differs("body.currency".into(), c.into(), q.currency.clone());
    }
    for (i, (sent, line)) in expected.unit_prices.iter().zip(&q.lines).enumerate() {
        if let Some(sent) = *sent
            && sent != line.unit_price_minor
        {
            let field = format!("body.lines[{i}].unit_price_minor");
            return differs(field, sent.to_string(), line.unit_price_minor.to_string());
        }
    }
    let charges = [
        (
            "body.discount_minor",
            expected.discount_minor,
            q.discount_minor,
        ),
        (
            "body.shipping_minor",
            expected.shipping_minor,
            q.shipping_minor,
        ),
        ("body.tax_minor", expected.tax_minor, q.tax_minor),
    ];
    for (field, sent, now) in charges {
        if let Some(sent) = sent
            && sent != now
        {
            return differs(field.into(), sent.to_string(), now.to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "pricing_tests.rs"]
mod tests;
