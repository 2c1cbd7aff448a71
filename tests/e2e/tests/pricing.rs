//! The pricing processor through the broker: products and price rules in, `pricing.prices`
//! out. Prices follow product edits, rule edits and deletes, and rule validity windows that
//! open and close during the test (durable timers, nothing else happening); a SIGKILLed
//! pricing instance changes no result and repeats no price.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::RngExt;
use techpotli_e2e::events::{self, now, product, rule};
use techpotli_e2e::{Stack, wait_until, wait_until_eq};
use techpotli_pricing::rules::{self, Kind, Product, Rule, Scope};
use techpotli_schemas::types::catalog::{PriceRuleKind as K, PriceRuleScope as S};
use techpotli_schemas::types::pricing::{CartPriced, PriceChanged};
use techpotli_testkit::ChildProc;
use techpotli_topics::names;

const PRICES: &str = names::PRICING_PRICES.0;
const PRODUCTS: &str = names::CATALOG_PRODUCTS.0;
const RULES: &str = names::CATALOG_PRICE_RULES.0;
const CARTS: &str = names::CARTS_EVENTS.0;

/// (effective price, applied rules) per SKU; `None`: no price.
type Want = BTreeMap<String, Option<(i64, Vec<String>)>>;
/// Every record per SKU, in order; `None`: a tombstone.
type History = BTreeMap<String, Vec<Option<PriceChanged>>>;

/// The latest price per SKU (`None`: a tombstone) and every record per SKU.
fn prices(stack: &Stack) -> (BTreeMap<String, Option<PriceChanged>>, History) {
    let mut all: History = BTreeMap::new();
    for r in stack.read_opt::<PriceChanged>(PRICES) {
        all.entry(r.key).or_default().push(r.value);
    }
    let latest = all
        .iter()
        .map(|(k, v)| (k.clone(), v.last().cloned().flatten()))
        .collect();
    (latest, all)
}

/// (effective price, applied rules) of each SKU's latest price.
fn effective(stack: &Stack) -> Want {
    prices(stack)
        .0
        .into_iter()
        .map(|(k, v)| (k, v.map(|p| (p.effective_price_minor, p.applied_rule_ids))))
        .collect()
}

fn p(amount: i64, rules: &[&str]) -> (i64, Vec<String>) {
    (amount, rules.iter().map(|s| (*s).to_owned()).collect())
}

fn wait_for(stack: &Stack, what: &str, want: &Want) {
    wait_until_eq(what, Duration::from_secs(60), want, || effective(stack));
}

#[test]
fn prices_follow_products_rules_and_rule_windows() {
    let stack = Stack::start();
    let pricing = stack.spawn_pricing("p0");
    stack.send(
        PRODUCTS,
        "BAG-1",
        &product("BAG-1", "bags/potli", 10_000, true),
    );
    stack.send(
        PRODUCTS,
        "BAG-2",
        &product("BAG-2", "bags/tote", 20_000, true),
    );
    stack.send(PRODUCTS, "SHOE-1", &product("SHOE-1", "shoes", 5_000, true));
    stack.send(PRODUCTS, "OLD-1", &product("OLD-1", "bags", 1_000, false));
    stack.send(
        RULES,
        "bags-10",
        &rule(
            "bags-10",
            K::PercentOff,
            1_000,
            S::Category,
            Some("bags"),
            1,
        ),
    );
    stack.send(
        RULES,
        "bag1-500",
        &rule("bag1-500", K::AmountOff, 500, S::Sku, Some("BAG-1"), 0),
    );
    stack.flush();
    let base: Want = [
        ("BAG-1", Some(p(8_500, &["bags-10", "bag1-500"]))),
        ("BAG-2", Some(p(18_000, &["bags-10"]))),
        ("SHOE-1", Some(p(5_000, &[]))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    wait_for(&stack, "products priced, the inactive one not", &base);

    // A flash sale whose window opens and closes while nothing else happens.
    let from = now() + 6_000;
    let until = from + 4_000;
    let mut flash = rule("flash", K::FixedPrice, 4_000, S::All, None, 10);
    flash.valid_from = Some(from);
    flash.valid_until = Some(until);
    stack.send(RULES, "flash", &flash);
    stack.flush();
    wait_until(
        "the flash rule's start is announced as valid_until",
        Duration::from_secs(30),
        || {
            prices(&stack)
                .0
                .values()
                .flatten()
                .all(|p| p.valid_until == Some(from))
        },
    );
    assert!(
        now() < from,
        "the sale must open after the setup (slow machine?)"
    );
    let mut sale = base.clone();
    for v in sale.values_mut() {
        *v = Some(p(4_000, &["flash"]));
    }
    wait_for(&stack, "the sale opened", &sale);
    let opened = now();
    assert!(opened >= from, "prices changed before the window opened");
    let (latest, _) = prices(&stack);
    let bag = latest["BAG-1"].clone().expect("priced");
    assert_eq!(bag.event_time, from, "the price took effect at valid_from");
    assert_eq!(bag.valid_until, Some(until));
    wait_for(&stack, "the sale closed", &base);
    assert!(now() >= until);
    assert!(
        prices(&stack)
            .0
            .values()
            .flatten()
            .all(|p| p.valid_until.is_none())
    );

    // Edits: a product's list price, a rule deleted, a product delisted and one deleted.
    stack.send(
        PRODUCTS,
        "BAG-2",
        &product("BAG-2", "bags/tote", 30_000, true),
    );
    stack.send_tombstone(RULES, "bag1-500");
    stack.send(
        PRODUCTS,
        "SHOE-1",
        &product("SHOE-1", "shoes", 5_000, false),
    );
    stack.send_tombstone(PRODUCTS, "BAG-1");
    stack.send(PRODUCTS, "OLD-1", &product("OLD-1", "bags", 1_000, true));
    stack.flush();
    let edited: Want = [
        ("BAG-1", None),
        ("BAG-2", Some(p(27_000, &["bags-10"]))),
        ("SHOE-1", None),
        ("OLD-1", Some(p(900, &["bags-10"]))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    wait_for(&stack, "edits applied", &edited);
    pricing.stop().expect("pricing stops cleanly");
}

/// (total, [(sku, quantity, unit price)], unpriced) of the latest `pricing.carts` record per cart.
type CartSummary = BTreeMap<String, (i64, Vec<(String, i32, i64)>, Vec<String>)>;

fn carts(stack: &Stack) -> CartSummary {
    let mut out = BTreeMap::new();
    for r in stack.read::<CartPriced>(names::PRICING_CARTS.0) {
        let lines = r
            .value
            .lines
            .iter()
            .map(|l| (l.sku.clone(), l.quantity, l.unit_price_minor))
            .collect();
        out.insert(r.key, (r.value.total_minor, lines, r.value.unpriced_skus));
    }
    out
}

fn wait_for_carts(stack: &Stack, what: &str, want: &CartSummary) {
    wait_until_eq(what, Duration::from_secs(60), want, || carts(stack));
}

fn line(sku: &str, quantity: i32, unit: i64) -> (String, i32, i64) {
    (sku.to_owned(), quantity, unit)
}

#[test]
fn carts_are_priced_at_current_prices_and_repriced_when_a_price_changes() {
    let stack = Stack::start();
    let pricing = stack.spawn_pricing("p0");
    stack.send(PRODUCTS, "A", &product("A", "bags", 1_000, true));
    stack.send(PRODUCTS, "B", &product("B", "shoes", 2_000, true));
    stack.flush();
    wait_until("products priced", Duration::from_secs(30), || {
        prices(&stack).0.len() == 2
    });
    let send = |cart: &str, p| stack.send(CARTS, cart, &events::cart(cart, "asha", p));
    send("c1", events::added("A", 2));
    send("c1", events::added("B", 1));
    send("c1", events::added("NOPE", 1));
    send("c2", events::added("A", 1));
    stack.flush();
    let mut want: CartSummary = BTreeMap::new();
    want.insert(
        "c1".into(),
        (
            4_000,
            vec![line("A", 2, 1_000), line("B", 1, 2_000)],
            vec!["NOPE".into()],
        ),
    );
    want.insert("c2".into(), (1_000, vec![line("A", 1, 1_000)], vec![]));
    wait_for_carts(&stack, "carts priced", &want);

    // A sale on bags re-prices both open carts holding A, and only A.
    stack.send(
        RULES,
        "bags-10",
        &rule(
            "bags-10",
            K::PercentOff,
            1_000,
            S::Category,
            Some("bags"),
            0,
        ),
    );
    stack.flush();
    want.insert(
        "c1".into(),
        (
            3_800,
            vec![line("A", 2, 900), line("B", 1, 2_000)],
            vec!["NOPE".into()],
        ),
    );
    want.insert("c2".into(), (900, vec![line("A", 1, 900)], vec![]));
    wait_for_carts(&stack, "carts re-priced by the sale", &want);

    // Removing lines and delisting a SKU.
    send("c1", events::removed("A", Some(1)));
    send("c1", events::removed("NOPE", None));
    stack.send_tombstone(PRODUCTS, "B");
    stack.flush();
    want.insert(
        "c1".into(),
        (900, vec![line("A", 1, 900)], vec!["B".into()]),
    );
    wait_for_carts(&stack, "lines removed, B delisted", &want);
    pricing.stop().expect("pricing stops cleanly");
}

const SKUS: usize = 40;
const ROUNDS: usize = 30;

fn category(i: usize) -> &'static str {
    ["bags/potli", "bags/tote", "shoes", "jewellery"][i % 4]
}

fn pure_product(i: usize, list: i64) -> Product {
    Product {
        sku: format!("SKU-{i}"),
        category: category(i).into(),
        list_price_minor: list,
        currency: "INR".into(),
    }
}

/// Round `n`'s edits: list prices of some SKUs and a rule upserted or deleted.
fn round(n: usize, lists: &mut [i64], rules: &mut BTreeMap<String, Rule>, stack: &Stack) {
    let mut rng = rand::rng();
    for _ in 0..5 {
        let i = rng.random_range(0..SKUS);
        lists[i] = rng.random_range(1_000..50_000);
        stack.send(
            PRODUCTS,
            &format!("SKU-{i}"),
            &product(&format!("SKU-{i}"), category(i), lists[i], true),
        );
    }
    let id = format!("rule-{}", n % 8);
    if n % 5 == 4 {
        stack.send_tombstone(RULES, &id);
        rules.remove(&id);
        return;
    }
    let (kind, value) = match n % 3 {
        0 => (K::PercentOff, rng.random_range(1..5_000)),
        1 => (K::AmountOff, rng.random_range(0..3_000)),
        _ => (K::FixedPrice, rng.random_range(500..40_000)),
    };
    let (scope, scope_value) = match n % 4 {
        0 => (S::All, None),
        1 => (S::Category, Some("bags".to_owned())),
        2 => (S::Category, Some("shoes".to_owned())),
        _ => (S::Sku, Some(format!("SKU-{}", n % SKUS))),
    };
    let r = rule(
        &id,
        kind,
        value,
        scope,
        scope_value.as_deref(),
        rng.random_range(-3..3),
    );
    let pure = Rule {
        rule_id: id.clone(),
        kind: match kind {
            K::PercentOff => Kind::PercentOff(value as u32),
            K::AmountOff => Kind::AmountOff(value),
            _ => Kind::FixedPrice(value),
        },
        currency: r.currency.clone(),
        scope: match scope {
            S::All => Scope::All,
            S::Category => Scope::Category(scope_value.clone().unwrap_or_default()),
            _ => Scope::Sku(scope_value.clone().unwrap_or_default()),
        },
        valid_from: None,
        valid_until: None,
        priority: r.priority,
        active: true,
    };
    stack.send(RULES, &id, &r);
    rules.insert(id, pure);
}

#[test]
fn a_sigkilled_pricing_instance_changes_no_result_and_repeats_no_price() {
    let stack = Stack::start();
    let spawn = |i: usize| -> ChildProc {
        stack.spawn_bin("techpotli-pricing", &format!("pricing-{i}"), &[])
    };
    let mut procs = [spawn(0), spawn(1)];
    let mut lists = vec![10_000_i64; SKUS];
    for (i, list) in lists.iter().enumerate() {
        stack.send(
            PRODUCTS,
            &format!("SKU-{i}"),
            &product(&format!("SKU-{i}"), category(i), *list, true),
        );
    }
    let mut rules = BTreeMap::new();
    let mut rng = rand::rng();
    let mut kills = 0;
    for n in 0..ROUNDS {
        round(n, &mut lists, &mut rules, &stack);
        stack.flush();
        std::thread::sleep(Duration::from_millis(150));
        if n % 6 == 5 {
            let victim = rng.random_range(0..2);
            procs[victim].kill9();
            kills += 1;
            procs[victim] = spawn(victim);
        }
    }
    println!("SIGKILLed pricing {kills} times over {ROUNDS} rounds of edits");
    let want: Want = (0..SKUS)
        .map(|i| {
            let price = rules::price_at(&pure_product(i, lists[i]), rules.values(), events::now());
            (
                format!("SKU-{i}"),
                Some((price.effective_price_minor, price.applied_rule_ids)),
            )
        })
        .collect();
    wait_for(&stack, "every SKU at the price the rules give", &want);
    for (sku, history) in prices(&stack).1 {
        let strip = |p: &Option<PriceChanged>| {
            p.as_ref().map(|p| {
                (
                    p.list_price_minor,
                    p.effective_price_minor,
                    p.applied_rule_ids.clone(),
                    p.valid_until,
                )
            })
        };
        for w in history.windows(2) {
            assert_ne!(
                strip(&w[0]),
                strip(&w[1]),
                "{sku}: a price repeated (emitted twice)"
            );
        }
    }
    for p in &mut procs {
        p.stop_cleanly(Duration::from_secs(30));
    }
}
