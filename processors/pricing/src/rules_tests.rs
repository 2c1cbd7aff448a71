use proptest::prelude::*;

use super::*;

fn product(list: i64) -> Product {
    Product {
        sku: "POTLI-RED-L".into(),
        category: "bags/potli".into(),
        list_price_minor: list,
        currency: "INR".into(),
    }
}

fn rule(id: &str, kind: Kind, priority: i32) -> Rule {
    let currency = match kind {
        Kind::PercentOff(_) => None,
        _ => Some("INR".into()),
    };
    Rule {
        rule_id: id.into(),
        kind,
        currency,
        scope: Scope::All,
        valid_from: None,
        valid_until: None,
        priority,
        active: true,
    }
}

/// The worked examples of docs/pricing.md, one row each: list price, rules, expected price and
/// applied rules.
#[test]
fn documented_cases() {
    let pct = |id: &str, bps, prio| rule(id, Kind::PercentOff(bps), prio);
    let off = |id: &str, amt, prio| rule(id, Kind::AmountOff(amt), prio);
    let fix = |id: &str, amt, prio| rule(id, Kind::FixedPrice(amt), prio);
    let cases: Vec<(i64, Vec<Rule>, i64, Vec<&str>)> = vec![
        (10_000, vec![], 10_000, vec![]),
        (10_000, vec![pct("a", 1_000, 0)], 9_000, vec!["a"]),
        // 15% of 999 = 149.85 -> 150 (half-up); 999 - 150 = 849.
        (999, vec![pct("a", 1_500, 0)], 849, vec!["a"]),
        // 0.5% of 100 = 0.5 -> 1 (half-up).
        (100, vec![pct("a", 50, 0)], 99, vec!["a"]),
        // 0.49% of 100 = 0.49 -> 0.
        (100, vec![pct("a", 49, 0)], 100, vec!["a"]),
        // Stacking in priority order: 10% off 10000 = 9000, then 500 off = 8500.
        (
            10_000,
            vec![off("b", 500, 1), pct("a", 1_000, 5)],
            8_500,
            vec!["a", "b"],
        ),
        // The other order gives another price: 500 off first = 9500, then 10% = 8550.
        (
            10_000,
            vec![off("b", 500, 5), pct("a", 1_000, 1)],
            8_550,
            vec!["b", "a"],
        ),
        // Equal priority: rule_id ascending.
        (
            10_000,
            vec![pct("z", 1_000, 0), off("m", 500, 0)],
            8_550,
            vec!["m", "z"],
        ),
        // A fixed price ends the evaluation.
        (
            10_000,
            vec![fix("f", 7_000, 9), pct("a", 5_000, 1)],
            7_000,
            vec!["f"],
        ),
        // Rules before a fixed price are overridden by it.
        (
            10_000,
            vec![pct("a", 5_000, 9), fix("f", 7_000, 1)],
            7_000,
            vec!["a", "f"],
        ),
        // A fixed price may be above the list price.
        (5_000, vec![fix("f", 6_000, 0)], 6_000, vec!["f"]),
        // Never below zero; reaching zero ends the evaluation.
        (300, vec![off("b", 500, 9), fix("f", 100, 1)], 0, vec!["b"]),
        (300, vec![pct("a", 10_000, 0)], 0, vec!["a"]),
    ];
    for (i, (list, rules, want, applied)) in cases.into_iter().enumerate() {
        let got = price_at(&product(list), &rules, 0);
        assert_eq!(got.effective_price_minor, want, "case {i}");
        assert_eq!(got.applied_rule_ids, applied, "case {i}");
        assert_eq!(got.list_price_minor, list, "case {i}");
    }
}

#[test]
fn a_rule_applies_only_to_its_scope_currency_and_window() {
    let p = product(10_000);
    let mut r = rule("a", Kind::AmountOff(1_000), 0);
    r.scope = Scope::Category("bags".into());
    assert!(r.applies(&p, 0));
    r.scope = Scope::Category("bags/potli".into());
    assert!(r.applies(&p, 0));
    r.scope = Scope::Category("bag".into());
    assert!(
        !r.applies(&p, 0),
        "a prefix that is not a whole path segment"
    );
    r.scope = Scope::Category("bags/potli/mini".into());
    assert!(
        !r.applies(&p, 0),
        "a sub-category does not contain its parent"
    );
    r.scope = Scope::Sku("POTLI-RED-L".into());
    assert!(r.applies(&p, 0));
    r.scope = Scope::Sku("POTLI-RED-M".into());
    assert!(!r.applies(&p, 0));
    r.scope = Scope::All;
    r.currency = Some("USD".into());
    assert!(!r.applies(&p, 0), "an amount in another currency");
    r.currency = Some("INR".into());
    r.active = false;
    assert!(!r.applies(&p, 0));
    r.active = true;
    r.valid_from = Some(100);
    r.valid_until = Some(200);
    assert!(!r.applies(&p, 99));
    assert!(r.applies(&p, 100), "valid_from is inclusive");
    assert!(r.applies(&p, 199));
    assert!(!r.applies(&p, 200), "valid_until is exclusive");
}

#[test]
fn the_price_holds_until_the_next_bound_of_a_targeting_rule() {
    let p = product(10_000);
    let mut later = rule("later", Kind::PercentOff(1_000), 0);
    later.valid_from = Some(500);
    later.valid_until = Some(900);
    let mut now = rule("now", Kind::AmountOff(100), 0);
    now.valid_until = Some(700);
    let mut other = rule("other", Kind::AmountOff(100), 0);
    other.scope = Scope::Sku("ELSEWHERE".into());
    other.valid_from = Some(50);
    let rules = [later, now, other];
    let at = |t| price_at(&p, &rules, t);
    assert_eq!(at(0).effective_price_minor, 9_900);
    assert_eq!(at(0).valid_until, Some(500), "a rule starting later");
    assert_eq!(
        at(500).effective_price_minor,
        8_900,
        "later (10%) before now (-100): rule_id order"
    );
    assert_eq!(at(500).valid_until, Some(700), "a rule ending");
    assert_eq!(at(700).effective_price_minor, 9_000);
    assert_eq!(at(700).valid_until, Some(900));
    assert_eq!(at(900).effective_price_minor, 10_000);
    assert_eq!(at(900).valid_until, None);
}

fn any_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (1u32..=10_000).prop_map(Kind::PercentOff),
        (0i64..=1_000_000_000).prop_map(Kind::AmountOff),
        (0i64..=1_000_000_000).prop_map(Kind::FixedPrice),
    ]
}

fn any_rules() -> impl Strategy<Value = Vec<Rule>> {
    prop::collection::vec((any_kind(), -5i32..5, 0u8..20), 0..8).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (k, prio, id))| rule(&format!("r{id:02}-{i}"), k, prio))
            .collect()
    })
}

proptest! {
    #[test]
    fn the_price_is_never_negative(list in 0i64..=i64::MAX / 2, rules in any_rules()) {
        let got = price_at(&product(list), &rules, 0);
        prop_assert!(got.effective_price_minor >= 0);
    }

    #[test]
    fn without_a_fixed_price_rules_only_lower_the_price(list in 0i64..=1_000_000_000_000, rules in any_rules()) {
        let rules: Vec<Rule> = rules.into_iter().filter(|r| !matches!(r.kind, Kind::FixedPrice(_))).collect();
        let got = price_at(&product(list), &rules, 0);
        prop_assert!(got.effective_price_minor <= list);
    }

    #[test]
    fn the_result_does_not_depend_on_the_order_rules_are_given(rules in any_rules(), list in 0i64..=1_000_000_000) {
        let mut reversed = rules.clone();
        reversed.reverse();
        prop_assert_eq!(price_at(&product(list), &rules, 0), price_at(&product(list), &reversed, 0));
    }

    #[test]
    fn rules_apply_in_priority_order(rules in any_rules(), list in 0i64..=1_000_000_000) {
        let got = price_at(&product(list), &rules, 0);
        let by_id = |id: &String| rules.iter().find(|r| &r.rule_id == id).unwrap();
        for w in got.applied_rule_ids.windows(2) {
            let (a, b) = (by_id(&w[0]), by_id(&w[1]));
            prop_assert!(a.priority > b.priority || (a.priority == b.priority && a.rule_id < b.rule_id));
        }
        // Replaying the applied rules one by one gives the price.
        let replay = got.applied_rule_ids.iter().fold(list, |p, id| apply_one(by_id(id).kind, p));
        prop_assert_eq!(replay, got.effective_price_minor);
    }

    #[test]
    fn percent_rounding_is_half_up_in_whole_minor_units(price in 0i64..=i64::MAX, bps in 0u32..=10_000) {
        let off = percent_of(price, bps);
        let exact = i128::from(price) * i128::from(bps); // off * 10000 within half a unit
        prop_assert!(0 <= off && off <= price);
        prop_assert!(i128::from(off) * 10_000 - exact <= 5_000);
        prop_assert!(exact - i128::from(off) * 10_000 < 5_000);
    }
}
