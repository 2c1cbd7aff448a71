//! `techpotli-pricing-udf`: the pricing functions of `techpotli-pricing` (`rules`) as Arroyo
//! UDFs, so that SQL on an Arroyo cluster prices exactly as the pricing processor does.
//!
//! # Layout
//! - `udfs/<name>.rs`: one Arroyo UDF each, a function annotated `#[udf]`
//!   (arroyo-udf-plugin 0.2.0) that wraps a pure function of `techpotli_pricing::rules`. Each
//!   file is a complete Arroyo UDF definition: what Arroyo's compiler takes, and what this crate
//!   builds, as a cdylib example target of the same name (see Cargo.toml).
//! - this library: [`UDFS`], the names and sources of those definitions, and
//!   [`arroyo_definition`], the text to register with Arroyo.
//! - `tests/entry_points.rs`: loads each built library, calls its `__run` entry point with Arrow
//!   arrays as the Arroyo host does, and compares every row with `techpotli_pricing::rules`.
//!
//! # Why one library per UDF
//! `#[udf]` exports its entry point under the fixed, unmangled name `__run`
//! (`extern "C-unwind" fn(FfiArrays) -> RunResult`), so two UDFs in one library would clash;
//! Arroyo itself compiles each UDF definition (exactly one `#[udf]` function) into its own
//! library and looks `__run` up in it.

/// One Arroyo UDF: its SQL name (the Rust function's name) and its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdfSource {
    /// The function's name: the name SQL calls it by, and the cdylib example's name.
    pub name: &'static str,
    /// The definition: the Rust source of `udfs/<name>.rs`.
    pub source: &'static str,
}

/// Every UDF of this crate; one `[[example]]` cdylib each in Cargo.toml.
pub const UDFS: [UdfSource; 6] = [
    UdfSource {
        name: "percent_of",
        source: include_str!("../udfs/percent_of.rs"),
    },
    UdfSource {
        name: "apply_rule",
        source: include_str!("../udfs/apply_rule.rs"),
    },
    UdfSource {
        name: "category_contains",
        source: include_str!("../udfs/category_contains.rs"),
    },
    UdfSource {
        name: "effective_price",
        source: include_str!("../udfs/effective_price.rs"),
    },
    UdfSource {
        name: "effective_price_json",
        source: include_str!("../udfs/effective_price_json.rs"),
    },
    UdfSource {
        name: "rule_json",
        source: include_str!("../udfs/rule_json.rs"),
    },
];

/// The UDF definition to register with Arroyo (the `definition` of a UDF in its API): the
/// source, preceded by the `[dependencies]` comment from which Arroyo's UDF compiler writes the
/// library's dependencies (it adds `arroyo-udf-plugin` itself).
///
/// `techpotli_pricing` is the TOML value of the `techpotli-pricing` dependency as Arroyo's
/// compiler can reach it, e.g. `{ git = "https://…/techpotli.git", rev = "…",
/// default-features = false }`; keep `default-features = false`, the UDFs need the pure rules
/// only.
pub fn arroyo_definition(udf: &UdfSource, techpotli_pricing: &str) -> String {
    format!(
        "/*\n[dependencies]\ntechpotli-pricing = {techpotli_pricing}\nserde_json = \"1\"\n*/\n\n{}",
        udf.source
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_is_one_udf_function_of_its_name() {
        for udf in &UDFS {
            assert_eq!(
                udf.source.matches("#[udf]").count(),
                1,
                "{}: exactly one #[udf] function per definition",
                udf.name
            );
            assert!(
                udf.source.contains(&format!("fn {}(", udf.name)),
                "{}: the #[udf] function has the UDF's name",
                udf.name
            );
            // Arroyo reads the one `/*\n[dependencies]\n...*/` block; the sources must not
            // carry their own.
            assert!(!udf.source.contains("[dependencies]"), "{}", udf.name);
        }
    }

    #[test]
    fn arroyo_definition_leads_with_the_dependencies_block() {
        let def = arroyo_definition(&UDFS[0], "{ path = \"/x\", default-features = false }");
        assert!(def.starts_with(
            "/*\n[dependencies]\ntechpotli-pricing = { path = \"/x\", default-features = false }\n"
        ));
        assert!(def.ends_with(UDFS[0].source));
        assert_eq!(def.matches("/*\n[dependencies]\n").count(), 1);
    }
}
