use proptest::prelude::*;

use super::*;

fn inr(amount: i64) -> UnitPrice {
    UnitPrice {
        list_minor: amount + 100,
        effective_minor: amount,
        currency: "INR".into(),
    }
}

fn add(sku: &str, quantity: i32) -> Change {
    Change::Add {
        sku: sku.into(),
        quantity,
    }
}

#[test]
fn lines_follow_adds_removes_and_clear_in_first_added_order() {
    let mut c = Cart::default();
    assert_eq!(c.apply(add("A", 2)), vec![("A".into(), 2)]);
    assert_eq!(c.apply(add("B", 1)), vec![("B".into(), 1)]);
    assert_eq!(c.apply(add("A", 3)), vec![("A".into(), 5)]);
    assert!(!c.settled(), "prices not heard yet");
    let skus: Vec<_> = c.lines.iter().map(|l| l.sku.as_str()).collect();
    assert_eq!(skus, ["A", "B"]);
    let rm = Change::Remove {
        sku: "A".into(),
        quantity: Some(4),
    };
    assert_eq!(c.apply(rm), vec![("A".into(), 1)]);
    let rm_all = Change::Remove {
        sku: "B".into(),
        quantity: None,
    };
    assert_eq!(c.apply(rm_all), vec![("B".into(), 0)]);
    let absent = Change::Remove {
        sku: "Z".into(),
        quantity: None,
    };
    assert!(c.apply(absent).is_empty());
    assert_eq!(c.apply(Change::Clear), vec![("A".into(), 0)]);
    assert!(c.lines.is_empty());
}

#[test]
fn a_cart_is_priced_in_its_first_priced_lines_currency_and_lists_what_it_cannot_price() {
    let mut c = Cart::default();
    for (sku, q) in [("A", 2), ("B", 1), ("C", 1), ("D", 3)] {
        c.apply(add(sku, q));
    }
    c.set_price("A", Some(inr(1_000)));
    c.set_price("B", None);
    let usd = UnitPrice {
        list_minor: 5,
        effective_minor: 5,
        currency: "USD".into(),
    };
    c.set_price("C", Some(usd));
    assert!(!c.settled());
    c.set_price("D", Some(inr(250)));
    assert!(c.settled());
    assert!(
        !c.set_price("Z", Some(inr(1))),
        "a SKU not in the cart is ignored"
    );
    let p = c.priced();
    assert_eq!(p.currency, "INR");
    assert_eq!(p.subtotal_minor, 2 * 1_000 + 3 * 250);
    assert_eq!(p.total_minor, p.subtotal_minor);
    assert_eq!(p.unpriced_skus, ["B", "C"]);
    assert_eq!(p.lines[0].list_unit_price_minor, 1_100);
    assert_eq!(Cart::default().priced().currency, DEFAULT_CURRENCY);
}

proptest! {
    #[test]
    fn the_total_is_the_sum_of_quantity_times_price_and_never_negative(
        ops in prop::collection::vec((0u8..3, 0usize..5, 0i32..50, 0i64..100_000), 0..40)
    ) {
        let mut c = Cart::default();
        for (op, sku, q, price) in ops {
            let sku = format!("S{sku}");
            match op {
                0 => { c.apply(add(&sku, q)); c.set_price(&sku, Some(inr(price))); }
                1 => { c.apply(Change::Remove { sku, quantity: Some(q) }); }
                _ => { c.set_price(&sku, Some(inr(price))); }
            }
        }
        let p = c.priced();
        let want: i64 = c.lines.iter().map(|l| i64::from(l.quantity) * l.price.as_ref().map_or(0, |p| p.effective_minor)).sum();
        prop_assert_eq!(p.total_minor, want);
        prop_assert!(p.total_minor >= 0);
        prop_assert!(c.lines.iter().all(|l| l.quantity > 0), "no empty line is kept");
    }
}
