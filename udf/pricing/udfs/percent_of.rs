// Arroyo UDF `percent_of`: `bps` basis points of `price`, rounded half-up to a whole minor unit,
// as `techpotli_pricing::rules::percent_of` (which caps `bps` at 10000).
// NULL when either argument is NULL, or when `bps` is negative (no such basis points).
use arroyo_udf_plugin::udf;
use techpotli_pricing::rules;

/// `bps` basis points of `price`, rounded half-up; NULL for a negative `bps`.
#[udf]
fn percent_of(price: i64, bps: i64) -> Option<i64> {
    if bps < 0 {
        return None;
    }
    // Above u32::MAX it is capped all the same (rules::percent_of takes at most 10000).
    let bps = u32::try_from(bps).unwrap_or(u32::MAX);
    Some(rules::percent_of(price, bps))
}
