//! The pricing processor on the runtime: a table–table join of `catalog.products` (a
//! co-partitioned table, by SKU) with `catalog.price-rules`, kept current on `pricing.prices`.
//!
//! Rules are keyed by rule_id but one rule can target SKUs on every partition, so a rule is
//! **broadcast**: the task that consumes it from `catalog.price-rules` validates it and writes
//! it to every partition of `pricing.rule-broadcast-repartition` in the same transaction; each
//! task keeps all rules in its store `rules` and re-prices its own SKUs. A rule's future
//! validity bounds are durable timers, so a sale starts and ends on time even when nothing else
//! happens. Only a changed price is emitted (store `prices` holds the last one per SKU).

use techpotli_runtime::store::decode_value;
use techpotli_runtime::{
    Context, FiredTimer, InputRecord, ProcessError, Processor, TableSpec, TableUpdate, json_state,
};
use techpotli_schemas::types::catalog::{PriceRuleUpserted, ProductUpserted};
use techpotli_schemas::types::pricing::PriceChanged;
use techpotli_schemas::types::symbol;
use techpotli_topics::names;

use crate::cart_flow;
use crate::rules::{self, Price, Product, Rule, RuleParts};

/// Store: rule_id → [`Rule`], every rule, in every task.
pub const RULES: &str = "rules";
/// Store: SKU → the [`Price`] last emitted for it.
pub const PRICES: &str = "prices";
/// Table over `catalog.products` (key SKU).
pub const PRODUCTS: &str = "products";
/// Repartition that carries each rule to every task.
pub const BROADCAST: &str = "rule-broadcast";

json_state!(Rule, 1);
json_state!(Price, 1);

/// The pricing processor.
#[derive(Debug, Default, Clone)]
pub struct Pricing;

impl Pricing {
    /// The topics it consumes as streams (products are a table).
    pub const INPUTS: [&'static str; 2] = [names::CATALOG_PRICE_RULES.0, names::CARTS_EVENTS.0];
}

/// A rule record as the pure rules see it, or why it is not a valid rule.
pub fn to_rule(r: &PriceRuleUpserted) -> Result<Rule, ProcessError> {
    let (kind, scope) = (symbol(&r.kind), symbol(&r.scope));
    RuleParts {
        rule_id: &r.rule_id,
        kind: &kind,
        percent_off_bps: r.percent_off_bps.map(i64::from),
        amount_minor: r.amount_minor,
        currency: r.currency.as_deref(),
        scope: &scope,
        scope_value: r.scope_value.as_deref(),
        valid_from: r.valid_from,
        valid_until: r.valid_until,
        priority: r.priority,
        active: r.active,
    }
    .validate()
    .map_err(|m| ProcessError::Invariant(format!("rule {:?}: {m}", r.rule_id)))
}

/// What pricing needs of a catalogue record; `None` for a SKU not for sale.
fn product_of(p: &ProductUpserted) -> Option<Product> {
    p.active.then(|| Product {
        sku: p.sku.clone(),
        category: p.category.clone(),
        list_price_minor: p.list_price_minor,
        currency: p.currency.clone(),
    })
}

fn key_str(key: Option<&[u8]>, what: &str) -> Result<String, ProcessError> {
    key.and_then(|k| std::str::from_utf8(k).ok())
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ProcessError::Invariant(format!("{what} record without a UTF-8 key")))
}

/// The validity-bound timers of rule `id`: `from\0<id>` and `until\0<id>`.
fn timer_key(bound: &str, id: &str) -> Vec<u8> {
    format!("{bound}\0{id}").into_bytes()
}

/// Schedules the rule's future bounds and cancels those it no longer has.
fn schedule_bounds(
    ctx: &mut Context<'_>,
    id: &str,
    rule: Option<&Rule>,
    now: i64,
) -> Result<(), ProcessError> {
    let bounds = [
        ("from", rule.and_then(|r| r.valid_from)),
        ("until", rule.and_then(|r| r.valid_until)),
    ];
    for (name, at) in bounds {
        let key = timer_key(name, id);
        match at.filter(|&t| t > now && rule.is_some_and(|r| r.active)) {
            Some(t) => ctx.schedule(&key, t)?,
            None => {
                ctx.cancel_timer(&key)?;
            }
        }
    }
    Ok(())
}

fn all_rules(ctx: &mut Context<'_>) -> Result<Vec<Rule>, ProcessError> {
    ctx.store(RULES)?
        .iter()
        .map(|(_, v)| decode_value::<Rule>(v).map_err(ProcessError::State))
        .collect()
}

/// Re-prices this task's SKUs that `select` picks (from the products table), at `now`.
fn reprice(
    ctx: &mut Context<'_>,
    now: i64,
    event_time: i64,
    select: impl Fn(&Product) -> bool,
) -> Result<(), ProcessError> {
    let rules = all_rules(ctx)?;
    let table = ctx.table(PRODUCTS)?;
    let mut picked = Vec::new();
    for (key, value) in table.iter() {
        match ctx.decode::<ProductUpserted>(Some(value)) {
            Ok(p) => {
                if let Some(p) = product_of(&p).filter(|p| select(p)) {
                    picked.push(p);
                }
            }
            // The table holds what the topic holds; a record the api never wrote is skipped.
            Err(e) => {
                tracing::warn!(sku = %String::from_utf8_lossy(key), error = %e, "undecodable product skipped");
            }
        }
    }
    for p in picked {
        let price = rules::price_at(&p, &rules, now);
        publish(ctx, &p.sku, Some(price), event_time)?;
    }
    Ok(())
}

/// Emits the SKU's price (`None`: not for sale, a tombstone) when it differs from the last.
fn publish(
    ctx: &mut Context<'_>,
    sku: &str,
    price: Option<Price>,
    event_time: i64,
) -> Result<(), ProcessError> {
    let store = ctx.store(PRICES)?;
    let last: Option<Price> = store.get(sku)?;
    if last == price {
        return Ok(());
    }
    match &price {
        Some(p) => store.put(sku, p),
        None => {
            store.delete(sku);
        }
    }
    cart_flow::reprice_holders(ctx, sku, price.as_ref())?;
    let value = price.map(|p| PriceChanged {
        event_id: uuid::Uuid::now_v7(),
        event_time,
        sku: sku.to_owned(),
        list_price_minor: p.list_price_minor,
        effective_price_minor: p.effective_price_minor,
        currency: p.currency,
        applied_rule_ids: p.applied_rule_ids,
        valid_until: p.valid_until,
    });
    ctx.emit_avro(names::PRICING_PRICES.0, sku, value.as_ref())
}

/// A rule arrived from `catalog.price-rules`: validate it, then hand it to every task.
fn rule_upserted(r: &InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
    let id = key_str(r.key.as_deref(), "price rule")?;
    if r.value.is_some() {
        let rule: PriceRuleUpserted = ctx.decode(r.value.as_deref())?;
        if rule.rule_id != id {
            return Err(ProcessError::Invariant(format!(
                "key {id:?} does not match rule_id {:?}",
                rule.rule_id
            )));
        }
        to_rule(&rule)?;
    }
    ctx.broadcast(BROADCAST, id.as_bytes(), r.value.as_deref());
    Ok(())
}

/// A rule reached this task: store it, time its bounds, re-price what it targeted or targets.
fn rule_broadcast(r: &InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
    let id = key_str(r.key.as_deref(), "rule broadcast")?;
    let new = match r.value.as_deref() {
        Some(v) => Some(to_rule(&ctx.decode::<PriceRuleUpserted>(Some(v))?)?),
        None => None,
    };
    let now = ctx.now_ms();
    let store = ctx.store(RULES)?;
    let old: Option<Rule> = store.get(&id)?;
    match &new {
        Some(rule) => store.put(&id, rule),
        None => {
            store.delete(&id);
        }
    }
    schedule_bounds(ctx, &id, new.as_ref(), now)?;
    let touched = |p: &Product| [&old, &new].into_iter().flatten().any(|r| r.targets(p));
    reprice(ctx, now, now, touched)
}

impl Processor for Pricing {
    fn stores(&self) -> Vec<String> {
        [RULES, PRICES, cart_flow::CARTS, cart_flow::HOLDERS]
            .map(String::from)
            .to_vec()
    }

    fn tables(&self) -> Vec<TableSpec> {
        vec![TableSpec::new(PRODUCTS, names::CATALOG_PRODUCTS.0)]
    }

    fn repartitions(&self) -> Vec<String> {
        [BROADCAST, cart_flow::CART_LINES, cart_flow::CART_PRICES]
            .map(String::from)
            .to_vec()
    }

    fn process(&mut self, r: InputRecord, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let topic = r.meta.topic.as_str();
        if topic == names::CARTS_EVENTS.0 {
            cart_flow::cart_event(&r, ctx)
        } else if topic == ctx.repartition_topic(cart_flow::CART_LINES) {
            cart_flow::cart_line(&r, ctx)
        } else if topic == ctx.repartition_topic(cart_flow::CART_PRICES) {
            cart_flow::cart_price(&r, ctx)
        } else if topic == ctx.repartition_topic(BROADCAST) {
            rule_broadcast(&r, ctx)
        } else {
            rule_upserted(&r, ctx)
        }
    }

    fn on_table(&mut self, u: TableUpdate, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let sku = key_str(Some(&u.key), "product")?;
        let product = match u.new.as_deref() {
            Some(v) => {
                let p: ProductUpserted = ctx.decode(Some(v))?;
                if p.sku != sku {
                    return Err(ProcessError::Invariant(format!(
                        "key {sku:?} does not match sku {:?}",
                        p.sku
                    )));
                }
                if p.list_price_minor < 0 {
                    return Err(ProcessError::Invariant(format!(
                        "list_price_minor {} of {sku:?} is negative",
                        p.list_price_minor
                    )));
                }
                product_of(&p)
            }
            None => None,
        };
        let now = ctx.now_ms();
        let price = match &product {
            Some(p) => Some(rules::price_at(p, &all_rules(ctx)?, now)),
            None => None,
        };
        publish(ctx, &sku, price, now)
    }

    fn on_timer(&mut self, t: FiredTimer, ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        let key = String::from_utf8_lossy(&t.key).into_owned();
        let Some((_, id)) = key.split_once('\0') else {
            return Err(ProcessError::Invariant(format!("unknown timer {key:?}")));
        };
        let Some(rule) = ctx.store(RULES)?.get::<Rule>(id)? else {
            return Ok(()); // deleted since; its deletion re-priced already
        };
        let now = ctx.now_ms().max(t.timer.at);
        reprice(ctx, now, t.timer.at, |p| rule.targets(p))
    }
}

#[cfg(test)]
#[path = "processor_tests.rs"]
mod tests;
