use techpotli_schemas::types::catalog::{PriceRuleKind, PriceRuleScope, PriceRuleUpserted};
use uuid::Uuid;

use super::*;
use crate::rules::{Kind, Scope};

fn record(kind: PriceRuleKind, bps: Option<i32>, amount: Option<i64>) -> PriceRuleUpserted {
    PriceRuleUpserted {
        event_id: Uuid::now_v7(),
        event_time: 0,
        rule_id: "r1".into(),
        name: "test".into(),
        kind,
        percent_off_bps: bps,
        amount_minor: amount,
        currency: amount.map(|_| "INR".into()),
        scope: PriceRuleScope::All,
        scope_value: None,
        valid_from: None,
        valid_until: None,
        priority: 0,
        active: true,
    }
}

#[test]
fn a_valid_rule_record_becomes_a_rule() {
    let r = to_rule(&record(PriceRuleKind::PercentOff, Some(1_000), None)).unwrap();
    assert_eq!(r.kind, Kind::PercentOff(1_000));
    assert_eq!(r.scope, Scope::All);
    let r = to_rule(&record(PriceRuleKind::FixedPrice, None, Some(4_000))).unwrap();
    assert_eq!(r.kind, Kind::FixedPrice(4_000));
    assert_eq!(r.currency.as_deref(), Some("INR"));
    let mut c = record(PriceRuleKind::AmountOff, None, Some(500));
    c.scope = PriceRuleScope::Category;
    c.scope_value = Some("bags".into());
    assert_eq!(to_rule(&c).unwrap().scope, Scope::Category("bags".into()));
}

#[test]
fn an_inconsistent_rule_record_is_refused_with_its_reason() {
    let refused = |r: PriceRuleUpserted| match to_rule(&r) {
        Err(ProcessError::Invariant(m)) => m,
        other => panic!("accepted or wrong error: {other:?}"),
    };
    assert!(refused(record(PriceRuleKind::PercentOff, Some(0), None)).contains("bps"));
    assert!(refused(record(PriceRuleKind::PercentOff, Some(10_001), None)).contains("bps"));
    assert!(refused(record(PriceRuleKind::PercentOff, Some(10), Some(5))).contains("amount"));
    assert!(refused(record(PriceRuleKind::AmountOff, None, Some(-1))).contains("amount"));
    assert!(refused(record(PriceRuleKind::FixedPrice, None, None)).contains("amount"));
    let mut no_currency = record(PriceRuleKind::AmountOff, None, Some(5));
    no_currency.currency = None;
    assert!(refused(no_currency).contains("currency"));
    let mut sku_without_value = record(PriceRuleKind::PercentOff, Some(10), None);
    sku_without_value.scope = PriceRuleScope::Sku;
    assert!(refused(sku_without_value).contains("scope"));
    let mut all_with_value = record(PriceRuleKind::PercentOff, Some(10), None);
    all_with_value.scope_value = Some("x".into());
    assert!(refused(all_with_value).contains("scope"));
    let mut window = record(PriceRuleKind::PercentOff, Some(10), None);
    window.valid_from = Some(10);
    window.valid_until = Some(10);
    assert!(refused(window).contains("valid_from"));
}
