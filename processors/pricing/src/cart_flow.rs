//! Priced carts on the runtime: a stream–table join of `carts.events` (key cart_id) with the
//! prices (key SKU) through two repartitions, so each side stays with its single writer.
//!
//! 1. A cart event reaches the cart's task: [`crate::cart`] applies it to the `carts` store and
//!    every changed line goes, keyed by SKU, to `pricing.cart-lines-repartition`.
//! 2. At the SKU's task the line is recorded in `holders` (`sku\0cart_id`) and answered with
//!    the SKU's current price (the `prices` store), keyed by cart, on
//!    `pricing.cart-prices-repartition`.
//! 3. Back at the cart's task the price is set on the line; once no line awaits its price the
//!    cart is priced and, if that differs from what was last published, emitted on
//!    `pricing.carts`.
//!
//! A price change at a SKU's task sends the new price to every cart in `holders` (step 3), so
//! open carts are re-priced. Every hop is in the runtime's transactions: exactly once.

use serde::{Deserialize, Serialize};
use techpotli_runtime::{Context, InputRecord, ProcessError, json_state};
use techpotli_schemas::types::carts::{CartEvent, CartEventPayload};
use techpotli_schemas::types::pricing::{CartPriced, PricedCartLine};
use techpotli_topics::names;

use crate::cart::{Cart, Change, Priced, UnitPrice};
use crate::rules::Price;

/// Store: cart_id → [`Stored`].
pub const CARTS: &str = "carts";
/// Store at a SKU's task: `sku\0cart_id` → quantity held, for re-pricing open carts.
pub const HOLDERS: &str = "holders";
/// Repartition by SKU: a cart line changed ([`LineMsg`]).
pub const CART_LINES: &str = "cart-lines";
/// Repartition by cart: a SKU's price for a cart ([`PriceMsg`]).
pub const CART_PRICES: &str = "cart-prices";

/// A cart with what was last published of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub cart: Cart,
    pub published: Option<Priced>,
}

json_state!(Stored, 1);

/// Step 1 → 2: a cart's line of `sku` now holds `quantity` (0: gone).
#[derive(Debug, Serialize, Deserialize)]
struct LineMsg {
    cart_id: String,
    sku: String,
    quantity: i32,
}

/// Step 2 → 3: the price of `sku` for `cart_id` (`None`: no price).
#[derive(Debug, Serialize, Deserialize)]
struct PriceMsg {
    cart_id: String,
    sku: String,
    price: Option<UnitPrice>,
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("serialisable")
}

fn from_json<T: for<'de> Deserialize<'de>>(r: &InputRecord) -> Result<T, ProcessError> {
    let bytes = r
        .value
        .as_deref()
        .ok_or_else(|| ProcessError::Invariant("internal record without a value".into()))?;
    serde_json::from_slice(bytes)
        .map_err(|e| ProcessError::Invariant(format!("internal record: {e}")))
}

fn unit_price(p: &Price) -> UnitPrice {
    UnitPrice {
        list_minor: p.list_price_minor,
        effective_minor: p.effective_price_minor,
        currency: p.currency.clone(),
    }
}

fn change_of(e: &CartEvent) -> Result<Change, ProcessError> {
    let bad = |m: &str| {
        Err(ProcessError::Invariant(format!(
            "cart {:?}: {m}",
            e.cart_id
        )))
    };
    match &e.payload {
        CartEventPayload::CartItemAdded(a) if a.sku.is_empty() => {
            bad("an added item without a sku")
        }
        CartEventPayload::CartItemAdded(a) if a.quantity <= 0 => bad("an added quantity <= 0"),
        CartEventPayload::CartItemAdded(a) => Ok(Change::Add {
            sku: a.sku.clone(),
            quantity: a.quantity,
        }),
        CartEventPayload::CartItemRemoved(r) if r.quantity.is_some_and(|q| q <= 0) => {
            bad("a removed quantity <= 0")
        }
        CartEventPayload::CartItemRemoved(r) => Ok(Change::Remove {
            sku: r.sku.clone(),
            quantity: r.quantity,
        }),
        CartEventPayload::CartCleared(_) => Ok(Change::Clear),
    }
}

/// Emits the cart when every line's price is in and the result differs from the last one.
fn publish_if_settled(
    ctx: &mut Context<'_>,
    cart_id: &str,
    s: &mut Stored,
    event_time: i64,
) -> Result<(), ProcessError> {
    if !s.cart.settled() {
        return Ok(());
    }
    let priced = s.cart.priced();
    if s.published.as_ref() == Some(&priced) {
        return Ok(());
    }
    let value = CartPriced {
        event_id: uuid::Uuid::now_v7(),
        event_time,
        cart_id: cart_id.to_owned(),
        user_id: s.cart.user_id.clone(),
        currency: priced.currency.clone(),
        lines: priced
            .lines
            .iter()
            .map(|l| PricedCartLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
                list_unit_price_minor: l.list_unit_price_minor,
                unit_price_minor: l.unit_price_minor,
                line_total_minor: l.line_total_minor,
            })
            .collect(),
        unpriced_skus: priced.unpriced_skus.clone(),
        subtotal_minor: priced.subtotal_minor,
        discount_minor: priced.discount_minor,
        total_minor: priced.total_minor,
    };
    s.published = Some(priced);
    ctx.emit_avro(names::PRICING_CARTS.0, cart_id, Some(&value))
}

/// Step 1: a cart event at the cart's task.
pub fn cart_event(r: &InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
    let e: CartEvent = ctx.decode(r.value.as_deref())?;
    if r.key.as_deref() != Some(e.cart_id.as_bytes()) {
        return Err(ProcessError::Invariant(format!(
            "key does not match cart_id {:?}",
            e.cart_id
        )));
    }
    let change = change_of(&e)?;
    let mut s: Stored = ctx.store(CARTS)?.get(&e.cart_id)?.unwrap_or_default();
    if s.cart.user_id.is_none() {
        s.cart.user_id.clone_from(&e.user_id);
    }
    for (sku, quantity) in s.cart.apply(change) {
        let msg = LineMsg {
            cart_id: e.cart_id.clone(),
            sku: sku.clone(),
            quantity,
        };
        ctx.repartition(CART_LINES, sku.as_bytes(), Some(&json(&msg)));
    }
    publish_if_settled(ctx, &e.cart_id, &mut s, e.event_time)?;
    ctx.store(CARTS)?.put(&e.cart_id, &s);
    Ok(())
}

/// Step 2: a cart line at the SKU's task: remember who holds it, answer with its price.
pub fn cart_line(r: &InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
    let m: LineMsg = from_json(r)?;
    let key = format!("{}\0{}", m.sku, m.cart_id);
    if m.quantity > 0 {
        ctx.store(HOLDERS)?.put(&key, &i64::from(m.quantity));
        let price: Option<Price> = ctx.store(crate::processor::PRICES)?.get(&m.sku)?;
        send_price(ctx, &m.cart_id, &m.sku, price.as_ref());
    } else {
        ctx.store(HOLDERS)?.delete(&key);
    }
    Ok(())
}

fn send_price(ctx: &mut Context<'_>, cart_id: &str, sku: &str, price: Option<&Price>) {
    let msg = PriceMsg {
        cart_id: cart_id.to_owned(),
        sku: sku.to_owned(),
        price: price.map(unit_price),
    };
    ctx.repartition(CART_PRICES, cart_id.as_bytes(), Some(&json(&msg)));
}

/// A SKU's price changed at its task: every open cart holding it hears the new price.
pub fn reprice_holders(
    ctx: &mut Context<'_>,
    sku: &str,
    price: Option<&Price>,
) -> Result<(), ProcessError> {
    let prefix = format!("{sku}\0");
    let carts: Vec<String> = ctx
        .store(HOLDERS)?
        .keys_with_prefix(prefix.as_bytes())
        .into_iter()
        .map(|k| String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
        .collect();
    for cart_id in carts {
        send_price(ctx, &cart_id, sku, price);
    }
    Ok(())
}

/// Step 3: a SKU's price at the cart's task.
pub fn cart_price(r: &InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
    let m: PriceMsg = from_json(r)?;
    let Some(mut s) = ctx.store(CARTS)?.get::<Stored>(&m.cart_id)? else {
        return Ok(());
    };
    if s.cart.set_price(&m.sku, m.price) {
        publish_if_settled(ctx, &m.cart_id, &mut s, ctx.now_ms())?;
        ctx.store(CARTS)?.put(&m.cart_id, &s);
    }
    Ok(())
}
