//! The built UDF libraries, called as the Arroyo host calls them: dlopen the cdylib, look up
//! `__run`, hand it Arrow arrays through the C data interface (`FfiArrays`), import the result
//! array, and compare every row with the processor's pure functions (`techpotli_pricing::rules`)
//! on the same inputs.
//!
//! The libraries are the crate's cdylib examples. Plain `cargo test` builds them before it runs
//! any test (it builds every example to check it compiles), to
//! `target/<profile>/examples/lib<name>.so`, which is where this test looks, relative to its own
//! executable (`target/<profile>/deps/`). `cargo test --test entry_points` does not build
//! examples: run `cargo build --examples` first. `TECHPOTLI_PRICING_UDF_DIR` names another
//! directory holding the libraries (e.g. a release build's `target/release/examples`).

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arroyo_udf_plugin::arrow::array::{
    make_array, Array, ArrayData, ArrayRef, Int32Array, Int64Array, StringArray,
};
use arroyo_udf_plugin::arrow::ffi::from_ffi;
use arroyo_udf_plugin::{FfiArraySchema, FfiArrays, RunResult};
use libloading::{Library, Symbol};
use techpotli_pricing::rules::{self, Kind, Price, Product, Rule, Scope};
use techpotli_pricing_udf::UDFS;

/// The entry point `#[udf]` exports, as arroyo-udf-host declares it.
type RunFn = unsafe extern "C-unwind" fn(FfiArrays) -> RunResult;

fn udf_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TECHPOTLI_PRICING_UDF_DIR") {
        return dir.into();
    }
    // target/<profile>/deps/entry_points-<hash> -> target/<profile>/examples
    let exe = std::env::current_exe().expect("path of the test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test executable lies in target/<profile>/deps")
        .join("examples")
}

fn library_path(name: &str) -> PathBuf {
    udf_dir().join(format!("{DLL_PREFIX}{name}{DLL_SUFFIX}"))
}

/// The `__run` of the UDF library `name`.
fn load(name: &str) -> RunFn {
    let path = library_path(name);
    assert!(
        path.exists(),
        "UDF library {} not built: run plain `cargo test` (it builds the cdylib examples), or \
         `cargo build --examples` first, or set TECHPOTLI_PRICING_UDF_DIR",
        path.display()
    );
    // Never unloaded: the result arrays' release callbacks are code of the library.
    let library: &'static Library = Box::leak(Box::new(
        // SAFETY: the library is one of this crate's UDF cdylibs; loading runs no initialisers
        // beyond Rust's own.
        unsafe { Library::new(&path) }.unwrap_or_else(|e| panic!("dlopen {}: {e}", path.display())),
    ));
    // SAFETY: `#[udf]` (arroyo-udf-macros 0.2.0) exports `__run` with exactly this signature.
    let run: Symbol<'static, RunFn> = unsafe { library.get(b"__run\0") }
        .unwrap_or_else(|e| panic!("{}: no __run: {e}", path.display()));
    *run
}

/// Calls the UDF `name` on `args` (columns of equal length) and returns its result column.
fn call(name: &str, args: Vec<ArrayRef>) -> ArrayRef {
    let run = load(name);
    let rows = args[0].len();
    assert!(args.iter().all(|a| a.len() == rows));
    let data: Vec<ArrayData> = args.iter().map(|a| a.to_data()).collect();
    // SAFETY: `FfiArrays::from_vec` hands ownership of the arrays to the callee, which frees
    // them, as arroyo-udf-host does; both sides use the system allocator.
    let result = unsafe { run(FfiArrays::from_vec(data)) };
    let out = match result {
        RunResult::Ok(FfiArraySchema(array, schema)) => {
            // SAFETY: the callee exported a valid array and its schema with `to_ffi`.
            make_array(unsafe { from_ffi(array, &schema) }.expect("import the result array"))
        }
        RunResult::Err => panic!("UDF {name} panicked (RunResult::Err)"),
    };
    assert_eq!(out.len(), rows, "{name}: one result row per input row");
    out
}

fn i64s(v: &[Option<i64>]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}

fn strs(v: &[Option<&str>]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn i64_result(a: &ArrayRef) -> Vec<Option<i64>> {
    a.as_any()
        .downcast_ref::<Int64Array>()
        .expect("an Int64 result")
        .iter()
        .collect()
}

#[test]
fn every_udf_library_exports_run() {
    for udf in &UDFS {
        load(udf.name);
    }
}

#[test]
fn percent_of_matches_rules_percent_of() {
    let rows: [(Option<i64>, Option<i64>); 10] = [
        (Some(1999), Some(1000)),
        (Some(1005), Some(5000)), // 502.5: half-up
        (Some(1), Some(5000)),
        (Some(0), Some(10_000)),
        (Some(i64::MAX), Some(10_000)),
        (Some(100), Some(20_000)), // capped at 10000 by rules::percent_of
        (Some(100), Some(i64::MAX)),
        (Some(100), Some(-1)), // no such basis points
        (None, Some(1000)),
        (Some(100), None),
    ];
    let out = call(
        "percent_of",
        vec![i64s(&rows.map(|r| r.0)), i64s(&rows.map(|r| r.1))],
    );
    let expected: Vec<Option<i64>> = rows
        .iter()
        .map(|&(price, bps)| {
            let (price, bps) = (price?, bps?);
            if bps < 0 {
                return None;
            }
            // Beyond u32: capped, as rules::percent_of caps at 10000 anyway.
            Some(rules::percent_of(
                price,
                u32::try_from(bps).unwrap_or(u32::MAX),
            ))
        })
        .collect();
    assert_eq!(i64_result(&out), expected);
    // Pinned values, independent of the reference computation.
    assert_eq!(
        &i64_result(&out)[..4],
        &[Some(200), Some(503), Some(1), Some(0)]
    );
    assert_eq!(i64_result(&out)[5], Some(100));
    assert_eq!(i64_result(&out)[7], None);
}

#[test]
fn apply_rule_matches_rules_apply_one() {
    let rows: [(Option<&str>, Option<i64>, Option<i64>); 11] = [
        (Some("PERCENT_OFF"), Some(1500), Some(1999)),
        (Some("PERCENT_OFF"), Some(10_000), Some(1999)),
        (Some("PERCENT_OFF"), Some(-1), Some(1999)),
        (Some("AMOUNT_OFF"), Some(500), Some(1999)),
        (Some("AMOUNT_OFF"), Some(5000), Some(1999)), // never below 0
        (Some("FIXED_PRICE"), Some(2500), Some(1999)), // even above the list price
        (Some("FIXED_PRICE"), Some(-5), Some(1999)),
        (Some("UNKNOWN"), Some(1), Some(1999)),
        (Some("percent_off"), Some(1), Some(1999)),
        (None, Some(1), Some(1999)),
        (Some("AMOUNT_OFF"), Some(1), None),
    ];
    let out = call(
        "apply_rule",
        vec![
            strs(&rows.map(|r| r.0)),
            i64s(&rows.map(|r| r.1)),
            i64s(&rows.map(|r| r.2)),
        ],
    );
    let expected: Vec<Option<i64>> = rows
        .iter()
        .map(|&(kind, value, price)| {
            let (kind, value, price) = (kind?, value?, price?);
            let kind = match kind {
                "PERCENT_OFF" => Kind::PercentOff(u32::try_from(value).ok()?),
                "AMOUNT_OFF" => Kind::AmountOff(value),
                "FIXED_PRICE" => Kind::FixedPrice(value),
                _ => return None,
            };
            Some(rules::apply_one(kind, price))
        })
        .collect();
    assert_eq!(i64_result(&out), expected);
    assert_eq!(
        i64_result(&out),
        [
            Some(1699),
            Some(0),
            None,
            Some(1499),
            Some(0),
            Some(2500),
            Some(0),
            None,
            None,
            None,
            None
        ]
    );
}

#[test]
fn category_contains_matches_rules_category_contains() {
    let rows: [(Option<&str>, Option<&str>); 8] = [
        (Some("bags"), Some("bags")),
        (Some("bags"), Some("bags/potli")),
        (Some("bags"), Some("bagsx")),
        (Some("bags/potli"), Some("bags")),
        (Some("bags"), Some("bags/")),
        (Some(""), Some("x")),
        (None, Some("bags")),
        (Some("bags"), None),
    ];
    let out = call(
        "category_contains",
        vec![strs(&rows.map(|r| r.0)), strs(&rows.map(|r| r.1))],
    );
    let got: Vec<Option<i32>> = out
        .as_any()
        .downcast_ref::<Int32Array>()
        .expect("an Int32 result")
        .iter()
        .collect();
    let expected: Vec<Option<i32>> = rows
        .iter()
        .map(|&(path, category)| Some(i32::from(rules::category_contains(path?, category?))))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        got,
        [
            Some(1),
            Some(1),
            Some(0),
            Some(0),
            Some(1),
            Some(0),
            None,
            None
        ]
    );
}

fn rule(id: &str, kind: Kind, currency: Option<&str>, scope: Scope, priority: i32) -> Rule {
    Rule {
        rule_id: id.into(),
        kind,
        currency: currency.map(Into::into),
        scope,
        valid_from: None,
        valid_until: None,
        priority,
        active: true,
    }
}

fn sample_rules() -> Vec<Rule> {
    vec![
        rule(
            "bags-10pct",
            Kind::PercentOff(1000),
            None,
            Scope::Category("bags".into()),
            10,
        ),
        Rule {
            valid_from: Some(1_000),
            valid_until: Some(2_000),
            ..rule(
                "sku1-50off",
                Kind::AmountOff(50),
                Some("INR"),
                Scope::Sku("SKU-1".into()),
                5,
            )
        },
        rule(
            "sku2-fixed",
            Kind::FixedPrice(999),
            Some("INR"),
            Scope::Sku("SKU-2".into()),
            20,
        ),
        rule(
            "all-usd-100off",
            Kind::AmountOff(100),
            Some("USD"),
            Scope::All,
            0,
        ),
        Rule {
            active: false,
            ..rule("all-free", Kind::PercentOff(10_000), None, Scope::All, 99)
        },
        Rule {
            valid_from: Some(5_000),
            ..rule("later-5pct", Kind::PercentOff(500), None, Scope::All, 1)
        },
    ]
}

/// One row of `effective_price` / `effective_price_json` arguments.
type PriceRow = (
    Option<i64>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<String>,
    Option<i64>,
);

fn price_rows() -> Vec<PriceRow> {
    let json = serde_json::to_string(&sample_rules()).unwrap();
    let j = || Some(json.clone());
    vec![
        (
            Some(1999),
            Some("INR"),
            Some("bags/potli"),
            Some("SKU-1"),
            j(),
            Some(1_500),
        ),
        (
            Some(1999),
            Some("INR"),
            Some("bags/potli"),
            Some("SKU-1"),
            j(),
            Some(2_000),
        ),
        (
            Some(1999),
            Some("INR"),
            Some("bags/potli"),
            Some("SKU-1"),
            j(),
            Some(6_000),
        ),
        (
            Some(1999),
            Some("INR"),
            Some("bags"),
            Some("SKU-2"),
            j(),
            Some(0),
        ),
        (
            Some(1999),
            Some("INR"),
            Some("bagsx"),
            Some("SKU-3"),
            j(),
            Some(0),
        ),
        (
            Some(80),
            Some("USD"),
            Some("shoes"),
            Some("SKU-4"),
            j(),
            Some(0),
        ),
        (
            Some(-5),
            Some("INR"),
            Some("shoes"),
            Some("SKU-5"),
            j(),
            Some(0),
        ),
        (
            Some(1999),
            Some("INR"),
            Some("bags"),
            Some("SKU-1"),
            Some("[]".into()),
            Some(0),
        ),
        (
            Some(1999),
            Some("INR"),
            Some("bags"),
            Some("SKU-1"),
            Some("not json".into()),
            Some(0),
        ),
        (
            Some(1999),
            Some("INR"),
            Some("bags"),
            Some("SKU-1"),
            Some("[{\"rule_id\":1}]".into()),
            Some(0),
        ),
        (Some(1999), Some("INR"), Some("bags"), None, j(), Some(0)),
        (None, Some("INR"), Some("bags"), Some("SKU-1"), j(), Some(0)),
    ]
}

fn price_args(rows: &[PriceRow]) -> Vec<ArrayRef> {
    vec![
        i64s(&rows.iter().map(|r| r.0).collect::<Vec<_>>()),
        strs(&rows.iter().map(|r| r.1).collect::<Vec<_>>()),
        strs(&rows.iter().map(|r| r.2).collect::<Vec<_>>()),
        strs(&rows.iter().map(|r| r.3).collect::<Vec<_>>()),
        strs(&rows.iter().map(|r| r.4.as_deref()).collect::<Vec<_>>()),
        i64s(&rows.iter().map(|r| r.5).collect::<Vec<_>>()),
    ]
}

/// `rules::price_at` on a row's arguments; `None` where the UDF gives NULL.
fn reference_price(row: &PriceRow) -> Option<Price> {
    let (list, currency, category, sku, json, now) = row;
    let rules: Vec<Rule> = serde_json::from_str(json.as_deref()?).ok()?;
    let product = Product {
        sku: (*sku)?.to_owned(),
        category: (*category)?.to_owned(),
        list_price_minor: (*list)?,
        currency: (*currency)?.to_owned(),
    };
    Some(rules::price_at(&product, &rules, (*now)?))
}

#[test]
fn effective_price_matches_rules_price_at() {
    let rows = price_rows();
    let out = call("effective_price", price_args(&rows));
    let expected: Vec<Option<i64>> = rows
        .iter()
        .map(|r| reference_price(r).map(|p| p.effective_price_minor))
        .collect();
    assert_eq!(i64_result(&out), expected);
    // Pinned: 10% off 1999 (-200) then 50 off; the SKU rule expired at 2000; a later rule
    // started at 5000; the fixed price ends evaluation; no rule; 100 USD off 80 floors at 0.
    assert_eq!(
        &i64_result(&out)[..6],
        &[
            Some(1749),
            Some(1799),
            Some(1709),
            Some(999),
            Some(1999),
            Some(0)
        ]
    );
    // Bad JSON, a JSON array of non-rules, a NULL argument: NULL, not a panic.
    assert_eq!(&i64_result(&out)[8..], &[None, None, None, None]);
}

#[test]
fn effective_price_json_matches_rules_price_at() {
    let rows = price_rows();
    let out = call("effective_price_json", price_args(&rows));
    let got: Vec<Option<Price>> = out
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("a Utf8 result")
        .iter()
        .map(|s| s.map(|s| serde_json::from_str(s).expect("the UDF writes a Price")))
        .collect();
    let expected: Vec<Option<Price>> = rows.iter().map(reference_price).collect();
    assert_eq!(got, expected);
    let first = got[0].as_ref().unwrap();
    assert_eq!(first.applied_rule_ids, ["bags-10pct", "sku1-50off"]);
    assert_eq!(first.valid_until, Some(2_000));
}

#[test]
fn rules_json_shape_is_serdes_rule() {
    // The shape SQL must build for `rules_json`; missing optional fields read as null.
    let json = r#"[
        {"rule_id":"a","kind":{"PercentOff":1000},"currency":null,"scope":{"Category":"bags"},
         "valid_from":null,"valid_until":null,"priority":10,"active":true},
        {"rule_id":"b","kind":{"FixedPrice":999},"currency":"INR","scope":"All",
         "valid_from":1000,"priority":0,"active":false},
        {"rule_id":"c","kind":{"AmountOff":5},"currency":"INR","scope":{"Sku":"S"},
         "priority":-1,"active":true}
    ]"#;
    let parsed: Vec<Rule> = serde_json::from_str(json).unwrap();
    assert_eq!(
        parsed,
        [
            rule(
                "a",
                Kind::PercentOff(1000),
                None,
                Scope::Category("bags".into()),
                10
            ),
            Rule {
                valid_from: Some(1000),
                active: false,
                ..rule("b", Kind::FixedPrice(999), Some("INR"), Scope::All, 0)
            },
            rule(
                "c",
                Kind::AmountOff(5),
                Some("INR"),
                Scope::Sku("S".into()),
                -1
            ),
        ]
    );
}

#[test]
fn rule_json_validates_as_the_processor_does_and_feeds_effective_price() {
    let ids = strs(&[Some("a"), Some("b"), Some("c"), Some("d"), Some("e")]);
    let kinds = strs(&[
        Some("PERCENT_OFF"),
        Some("FIXED_PRICE"),
        Some("PERCENT_OFF"),
        Some("AMOUNT_OFF"),
        Some("BOGUS"),
    ]);
    let bps = i64s(&[Some(1_000), None, Some(10_001), None, Some(5)]);
    let amounts = i64s(&[None, Some(700), None, Some(50), None]);
    let currencies = strs(&[None, Some("INR"), None, None, None]);
    let scopes = strs(&[
        Some("CATEGORY"),
        Some("SKU"),
        Some("ALL"),
        Some("ALL"),
        Some("ALL"),
    ]);
    let values = strs(&[Some("bags"), Some("S1"), None, None, None]);
    let from = i64s(&[None, Some(10), None, None, None]);
    let until = i64s(&[None, Some(20), None, None, None]);
    let priority = i64s(&[Some(1), Some(2), Some(0), Some(0), Some(0)]);
    let active = i64s(&[Some(1), Some(0), Some(1), Some(1), Some(1)]);
    let out = call(
        "rule_json",
        vec![
            ids, kinds, bps, amounts, currencies, scopes, values, from, until, priority, active,
        ],
    );
    let got: Vec<Option<Rule>> = out
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("a Utf8 result")
        .iter()
        .map(|s| s.map(|s| serde_json::from_str(s).expect("a Rule")))
        .collect();
    assert_eq!(got[0].as_ref().unwrap().kind, Kind::PercentOff(1_000));
    assert_eq!(
        got[0].as_ref().unwrap().scope,
        Scope::Category("bags".into())
    );
    let fixed = got[1].as_ref().unwrap();
    assert_eq!((fixed.kind, fixed.active), (Kind::FixedPrice(700), false));
    assert_eq!((fixed.valid_from, fixed.valid_until), (Some(10), Some(20)));
    // 10001 bps, an amount without a currency, an unknown kind: what the processor refuses.
    assert_eq!(&got[2..], &[None, None, None]);
    // The JSON feeds effective_price unchanged.
    let rules_json = serde_json::to_string(&[got[0].clone().unwrap()]).unwrap();
    let priced = call(
        "effective_price",
        vec![
            i64s(&[Some(1_000)]),
            strs(&[Some("INR")]),
            strs(&[Some("bags/potli")]),
            strs(&[Some("S1")]),
            strs(&[Some(rules_json.as_str())]),
            i64s(&[Some(0)]),
        ],
    );
    assert_eq!(i64_result(&priced), [Some(900)]);
}
