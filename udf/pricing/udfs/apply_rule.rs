// Arroyo UDF `apply_rule`: one rule's effect on a running price, as
// `techpotli_pricing::rules::apply_one`. `kind` is the Avro symbol of catalog.price-rules:
// PERCENT_OFF (`value` in basis points), AMOUNT_OFF or FIXED_PRICE (`value` in minor units).
// NULL when an argument is NULL, for any other `kind` (UNKNOWN included), and for a negative
// PERCENT_OFF value (no such basis points).
use arroyo_udf_plugin::udf;
use techpotli_pricing::rules::{self, Kind};

/// The price after one rule of `kind` with `value`; NULL for an unknown kind.
#[udf]
fn apply_rule(kind: &str, value: i64, price: i64) -> Option<i64> {
    let kind = match kind {
        "PERCENT_OFF" if value >= 0 => {
            // Above u32::MAX it is capped all the same (rules::percent_of takes at most 10000).
            Kind::PercentOff(u32::try_from(value).unwrap_or(u32::MAX))
        }
        "AMOUNT_OFF" => Kind::AmountOff(value),
        "FIXED_PRICE" => Kind::FixedPrice(value),
        _ => return None,
    };
    Some(rules::apply_one(kind, price))
}
