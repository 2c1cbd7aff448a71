// Arroyo UDF `rule_json`: one catalog.price-rules record as the JSON that `effective_price`
// takes (a `techpotli_pricing::rules::Rule`), after the processor's own validation
// (`rules::RuleParts::validate`): NULL for a rule the processor would dead-letter (bps out of
// 1..=10000, an amount without a currency, a scope without its value, valid_from >= valid_until,
// an unknown kind or scope), and when a required argument is NULL. `active` is 1 or 0 (the
// plugin takes no BOOLEAN arguments); times are ms since the epoch.
use arroyo_udf_plugin::udf;
use techpotli_pricing::rules::RuleParts;

/// The rule as JSON, or NULL when it is not a valid rule.
#[udf]
#[allow(clippy::too_many_arguments)]
fn rule_json(
    rule_id: &str,
    kind: &str,
    percent_off_bps: Option<i64>,
    amount_minor: Option<i64>,
    currency: Option<&str>,
    scope: &str,
    scope_value: Option<&str>,
    valid_from_ms: Option<i64>,
    valid_until_ms: Option<i64>,
    priority: i64,
    active: i64,
) -> Option<String> {
    let rule = RuleParts {
        rule_id,
        kind,
        percent_off_bps,
        amount_minor,
        currency,
        scope,
        scope_value,
        valid_from: valid_from_ms,
        valid_until: valid_until_ms,
        priority: i32::try_from(priority).ok()?,
        active: active != 0,
    }
    .validate()
    .ok()?;
    serde_json::to_string(&rule).ok()
}
