// Arroyo UDF `effective_price`: the effective unit price, in minor units, of a product at
// `now_ms` (ms since the epoch) under the rules in `rules_json`, as
// `techpotli_pricing::rules::price_at(..).effective_price_minor`.
//
// `rules_json` is a JSON array of `techpotli_pricing::rules::Rule` as serde writes it, e.g.
// [{"rule_id":"r1","kind":{"PercentOff":1000},"currency":null,"scope":{"Category":"bags"},
//   "valid_from":null,"valid_until":1767225600000,"priority":10,"active":true}]
// (kind: {"PercentOff":bps} | {"AmountOff":minor} | {"FixedPrice":minor};
//  scope: {"Sku":"..."} | {"Category":"..."} | "All"; a missing optional field is null).
// Rules that do not apply are skipped, as in the processor. NULL when an argument is NULL or
// `rules_json` is not such an array.
use arroyo_udf_plugin::udf;
use techpotli_pricing::rules::{self, Product, Rule};

/// The effective price at `now_ms` under `rules_json`; NULL for rules that do not parse.
#[udf]
fn effective_price(
    list_price_minor: i64,
    currency: &str,
    category: &str,
    sku: &str,
    rules_json: &str,
    now_ms: i64,
) -> Option<i64> {
    let rules: Vec<Rule> = serde_json::from_str(rules_json).ok()?;
    let product = Product {
        sku: sku.to_owned(),
        category: category.to_owned(),
        list_price_minor,
        currency: currency.to_owned(),
    };
    Some(rules::price_at(&product, &rules, now_ms).effective_price_minor)
}
