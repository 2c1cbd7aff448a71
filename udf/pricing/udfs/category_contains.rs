// Arroyo UDF `category_contains`: 1 when `category` equals the category `path` or lies under it
// (`bags` contains `bags/potli`, not `bagsx`), else 0; as
// `techpotli_pricing::rules::category_contains`. NULL when an argument is NULL.
//
// An integer, not a boolean: arroyo-udf-macros 0.2.0 builds a sync UDF's result with
// `PrimitiveBuilder::<BooleanType>`, which does not compile (arrow's BooleanType is not a
// primitive type), so `-> bool` is not possible. In SQL: `category_contains(p, c) = 1`.
use arroyo_udf_plugin::udf;
use techpotli_pricing::rules;

/// 1 when `category` is `path` or lies under it, else 0.
#[udf]
fn category_contains(path: &str, category: &str) -> i32 {
    i32::from(rules::category_contains(path, category))
}
