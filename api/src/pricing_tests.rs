use super::*;
use crate::read::views::Source;

fn price(sku: &str, amount: i64, currency: &str) -> (String, PriceView) {
    (
        sku.to_owned(),
        PriceView {
            sku: sku.to_owned(),
            list_price_minor: amount + 100,
            effective_price_minor: amount,
            currency: currency.to_owned(),
            applied_rule_ids: vec![],
            valid_until_ms: None,
            event_time_ms: 1,
            source: Source::Redis,
        },
    )
}

fn prices() -> BTreeMap<String, PriceView> {
    [
        price("A", 1_000, "INR"),
        price("B", 250, "INR"),
        price("U", 5, "USD"),
    ]
    .into_iter()
    .collect()
}

#[test]
fn the_quote_is_the_server_prices_times_quantities() {
    let q = quote(&[("A", 2), ("B", 3)], &prices()).unwrap();
    assert_eq!(q.currency, "INR");
    assert_eq!(q.subtotal_minor, 2_750);
    assert_eq!(q.total_minor, 2_750);
    assert_eq!(q.lines[1].unit_price_minor, 250);
}

#[test]
fn a_sku_without_a_price_or_in_another_currency_is_refused_naming_its_line() {
    let e = quote(&[("A", 1), ("X", 1)], &prices()).unwrap_err();
    assert_eq!(
        (e.status, e.field.as_deref()),
        (422, Some("body.lines[1].sku"))
    );
    let e = quote(&[("A", 1), ("U", 1)], &prices()).unwrap_err();
    assert_eq!(
        (e.status, e.field.as_deref()),
        (422, Some("body.lines[1].sku"))
    );
    let huge: BTreeMap<_, _> = [price("H", i64::MAX / 2, "INR")].into_iter().collect();
    assert_eq!(
        quote(&[("H", 3)], &huge).unwrap_err().field.as_deref(),
        Some("body.lines")
    );
}

#[test]
fn a_figure_the_client_sent_that_is_not_the_servers_is_a_conflict_with_the_quote() {
    let q = quote(&[("A", 2), ("B", 3)], &prices()).unwrap();
    assert!(check(&Expected::default(), &q).is_ok());
    let right = Expected {
        currency: Some("INR"),
        unit_prices: vec![Some(1_000), None],
        discount_minor: Some(0),
        shipping_minor: Some(0),
        tax_minor: Some(0),
    };
    assert!(check(&right, &q).is_ok());
    let cases: Vec<(Expected<'_>, &str)> = vec![
        (
            Expected {
                unit_prices: vec![None, Some(1)],
                ..Expected::default()
            },
            "body.lines[1].unit_price_minor",
        ),
        (
            Expected {
                currency: Some("USD"),
                ..Expected::default()
            },
            "body.currency",
        ),
        (
            Expected {
                discount_minor: Some(500),
                ..Expected::default()
            },
            "body.discount_minor",
        ),
        (
            Expected {
                shipping_minor: Some(40),
                ..Expected::default()
            },
            "body.shipping_minor",
        ),
        (
            Expected {
                tax_minor: Some(1),
                ..Expected::default()
            },
            "body.tax_minor",
        ),
    ];
    for (e, field) in cases {
        let p = check(&e, &q).unwrap_err();
        assert_eq!(p.status, 409, "{field}");
        assert_eq!(p.field.as_deref(), Some(field));
        let body = serde_json::to_value(&p).unwrap();
        assert_eq!(
            body["quote"]["total_minor"], 2_750,
            "the 409 carries the quote"
        );
        assert_eq!(body["type"], "/problems/price-changed");
    }
}
