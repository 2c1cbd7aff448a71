//! Every Rust type agrees with its `.avsc`: fully populated samples round-trip through the
//! schema, field names match the Avro ones in order (recursively, into union members), every
//! union member is exercised, enum variants are the Avro symbols in order, and every schema file
//! and every enum has a Rust type.

mod samples;

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;

use apache_avro::schema::{Name, ResolvedSchema, UuidSchema};
use apache_avro::types::Value;
use apache_avro::{Schema, to_value};
use serde::Serialize;
use serde::de::DeserializeOwned;
use techpotli_schemas::types::*;
use techpotli_schemas::{AvroRecord, avsc, datum};

/// Walks the non-schema serde image of a sample (`apache_avro::to_value`) alongside the schema.
struct Walk<'a> {
    names: &'a HashMap<Name, &'a Schema>,
    /// `(path of a record union, member index)` seen so far.
    union_members: BTreeSet<(String, usize)>,
    /// `(path of a record union, member count)`.
    unions: BTreeSet<(String, usize)>,
}

impl Walk<'_> {
    fn walk(&mut self, schema: &Schema, value: &Value, path: &str) {
        match (schema, value) {
            (Schema::Ref { name }, _) => {
                let target = self
                    .names
                    .get(name)
                    .unwrap_or_else(|| panic!("{path}: {name}"));
                self.walk(target, value, path);
            }
            (Schema::Record(r), Value::Record(fields)) => {
                let avro: Vec<&str> = r.fields.iter().map(|f| f.name.as_str()).collect();
                let rust: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(
                    rust, avro,
                    "{path}: Rust fields vs Avro fields of {}",
                    r.name
                );
                for (f, (_, v)) in r.fields.iter().zip(fields) {
                    self.walk(&f.schema, v, &format!("{path}.{}", f.name));
                }
            }
            (Schema::Union(u), _) if u.is_nullable() && u.variants().len() == 2 => {
                let Value::Union(_, inner) = value else {
                    panic!("{path}: expected an Option, got {value:?}")
                };
                assert_ne!(**inner, Value::Null, "{path}: sample must be Some");
                self.walk(&u.variants()[1], inner, path);
            }
            (Schema::Union(u), Value::Record(tagged)) => {
                let [(t, Value::Enum(i, variant)), (v, Value::Union(j, inner))] = &tagged[..]
                else {
                    panic!("{path}: expected a newtype enum variant, got {value:?}")
                };
                assert_eq!((t.as_str(), v.as_str(), i), ("type", "value", j), "{path}");
                let member = &u.variants()[*i as usize];
                let Schema::Record(r) = member else {
                    panic!("{path}: union member {i} is not a record")
                };
                assert_eq!(
                    variant,
                    r.name.name(),
                    "{path}: variant {i} vs union member"
                );
                self.unions.insert((path.to_owned(), u.variants().len()));
                self.union_members.insert((path.to_owned(), *i as usize));
                self.walk(member, inner, &format!("{path}<{variant}>"));
            }
            (Schema::Enum(e), Value::String(symbol)) => {
                assert!(
                    e.symbols.contains(symbol),
                    "{path}: {symbol} not in {}",
                    e.name
                );
                assert_ne!(symbol, "UNKNOWN", "{path}: samples use real symbols");
            }
            (Schema::Array(a), Value::Array(items)) => {
                assert!(!items.is_empty(), "{path}: sample arrays must not be empty");
                for (n, item) in items.iter().enumerate() {
                    self.walk(&a.items, item, &format!("{path}[{n}]"));
                }
            }
            (Schema::Map(m), Value::Map(entries)) => {
                assert!(!entries.is_empty(), "{path}: sample maps must not be empty");
                for (k, v) in entries {
                    self.walk(&m.types, v, &format!("{path}[{k}]"));
                }
            }
            (Schema::Uuid(UuidSchema::String), Value::String(text)) => {
                uuid::Uuid::parse_str(text).unwrap_or_else(|e| panic!("{path}: {e}"));
            }
            (Schema::String, Value::String(_))
            | (Schema::Long | Schema::TimestampMillis, Value::Long(_))
            | (Schema::Int, Value::Int(_))
            | (Schema::Boolean, Value::Boolean(_)) => {}
            _ => panic!("{path}: Rust value {value:?} does not fit schema {schema:?}"),
        }
    }
}

fn names_of(schema: &Schema) -> HashMap<Name, &Schema> {
    let resolved = ResolvedSchema::try_from(schema).unwrap();
    resolved
        .get_names()
        .iter()
        .map(|(n, s)| (n.clone(), *s))
        .collect()
}

fn check<T>(samples: &[T])
where
    T: AvroRecord + Serialize + DeserializeOwned + PartialEq + Debug,
{
    let schema = T::schema();
    let Schema::Record(record) = schema else {
        panic!("{}: not a record", T::SCHEMA_FILE)
    };
    let header: Vec<&str> = record
        .fields
        .iter()
        .take(2)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(header, ["event_id", "event_time"], "{}", T::SCHEMA_FILE);

    let names = names_of(schema);
    let mut walk = Walk {
        names: &names,
        union_members: BTreeSet::new(),
        unions: BTreeSet::new(),
    };
    for sample in samples {
        // (a) encode with the .avsc, decode back (with resolution into the same schema).
        let bytes = datum::encode(sample).unwrap_or_else(|e| panic!("{sample:?}: {e}"));
        let back: T = datum::decode(schema, &bytes).unwrap_or_else(|e| panic!("{sample:?}: {e}"));
        assert_eq!(&back, sample, "{}", T::SCHEMA_FILE);
        // (b) field names, recursively.
        let value = to_value(sample).unwrap();
        walk.walk(schema, &value, record.name.name());
    }
    for (path, count) in &walk.unions {
        for i in 0..*count {
            assert!(
                walk.union_members.contains(&(path.clone(), i)),
                "{path}: no sample uses union member {i}"
            );
        }
    }
}

macro_rules! agreement {
    ($($test:ident: $ty:ty;)+) => {
        $(
            #[test]
            fn $test() {
                check::<$ty>(&samples::$test());
            }
        )+

        #[test]
        fn every_schema_file_has_a_type() {
            let covered: BTreeSet<&str> = [$(<$ty as AvroRecord>::SCHEMA_FILE),+].into();
            let files: BTreeSet<&str> = avsc::ALL.iter().map(|(f, _)| *f).collect();
            assert_eq!(covered, files);
            assert_eq!(files.len(), 20);
        }
    };
}

agreement! {
    product_upserted: ProductUpserted;
    price_rule_upserted: PriceRuleUpserted;
    customer_upserted: CustomerUpserted;
    stock_adjusted: StockAdjusted;
    user_activity: UserActivity;
    cart_event: CartEvent;
    order_placed: OrderPlaced;
    payment_event: PaymentEvent;
    refund_requested: RefundRequested;
    reservation_request: ReservationRequest;
    reservation_result: ReservationResult;
    stock_level: StockLevel;
    order_status_changed: OrderStatusChanged;
    price_changed: PriceChanged;
    cart_priced: CartPriced;
    notification_requested: NotificationRequested;
    revenue_window: RevenueWindow;
    funnel_window: FunnelWindow;
    product_popularity_window: ProductPopularityWindow;
    cart_abandonment_window: CartAbandonmentWindow;
}

/// Every Avro enum in every file, by simple name.
fn avro_enums() -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for (file, _) in avsc::ALL {
        for (name, schema) in names_of(avsc::parsed(file)) {
            if let Schema::Enum(e) = schema {
                assert_eq!(e.default.as_deref(), Some("UNKNOWN"), "{name}: default");
                out.insert(name.name().to_owned(), e.symbols.clone());
            }
        }
    }
    out
}

fn symbols<T: Serialize>(all: &[T]) -> Vec<String> {
    all.iter()
        .map(|v| match to_value(v).unwrap() {
            Value::String(s) => s,
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn enum_variants_are_the_avro_symbols_in_order() {
    let avro = avro_enums();
    let rust: HashMap<&str, Vec<String>> = HashMap::from([
        ("PriceRuleKind", symbols(PriceRuleKind::ALL)),
        ("PriceRuleScope", symbols(PriceRuleScope::ALL)),
        ("StockAdjustmentReason", symbols(StockAdjustmentReason::ALL)),
        ("ReleaseReason", symbols(ReleaseReason::ALL)),
        ("StockRejectionReason", symbols(StockRejectionReason::ALL)),
        ("StockChangeReason", symbols(StockChangeReason::ALL)),
        ("ActivityKind", symbols(ActivityKind::ALL)),
        ("CartClearedReason", symbols(CartClearedReason::ALL)),
        ("OrderState", symbols(OrderState::ALL)),
        ("PaymentFailureReason", symbols(PaymentFailureReason::ALL)),
        ("NotificationChannel", symbols(NotificationChannel::ALL)),
    ]);
    let mut avro_names: Vec<&str> = avro.keys().map(String::as_str).collect();
    let mut rust_names: Vec<&str> = rust.keys().copied().collect();
    avro_names.sort_unstable();
    rust_names.sort_unstable();
    assert_eq!(rust_names, avro_names, "every Avro enum has a Rust type");
    for (name, symbols) in &rust {
        assert_eq!(symbols, &avro[*name], "{name}");
    }
}

#[test]
fn every_schema_parses_and_text_lookup_works() {
    for (file, text) in avsc::ALL {
        assert_eq!(avsc::text(file), Some(*text));
        assert!(avsc::record_name(file).starts_with("com.techpotli."));
    }
    assert_eq!(avsc::text("nope.avsc"), None);
}
