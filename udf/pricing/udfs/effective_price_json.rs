// Arroyo UDF `effective_price_json`: the whole price of a product at `now_ms` under the rules in
// `rules_json` (the same arguments as `effective_price`), as the JSON serde writes for
// `techpotli_pricing::rules::price_at(..)`:
// {"list_price_minor":1999,"effective_price_minor":1799,"currency":"INR",
//  "applied_rule_ids":["r1"],"valid_until":1767225600000}
// — what pricing.prices carries besides the SKU (`valid_until`: when the price may next change).
// NULL when an argument is NULL or `rules_json` is not a JSON array of rules.
use arroyo_udf_plugin::udf;
use techpotli_pricing::rules::{self, Product, Rule};

/// The price at `now_ms` under `rules_json`, as JSON; NULL for rules that do not parse.
#[udf]
fn effective_price_json(
    list_price_minor: i64,
    currency: &str,
    category: &str,
    sku: &str,
    rules_json: &str,
    now_ms: i64,
) -> Option<String> {
    let rules: Vec<Rule> = serde_json::from_str(rules_json).ok()?;
    let product = Product {
        sku: sku.to_owned(),
        category: category.to_owned(),
        list_price_minor,
        currency: currency.to_owned(),
    };
    serde_json::to_string(&rules::price_at(&product, &rules, now_ms)).ok()
}
