//! The `.avsc` files of `schemas/avro/`, compiled in: their text, and each parsed once.
//!
//! Each file is self-contained (no cross-file references), so it parses on its own and is what
//! gets registered under its subject, byte for byte.

use std::collections::HashMap;
use std::sync::LazyLock;

use apache_avro::Schema;
use apache_avro::schema::ResolvedSchema;

/// `(file name, text)` of every schema file, sorted by file name.
pub const ALL: &[(&str, &str)] = &[
    (
        "cart_abandonment_window.avsc",
        include_str!("../avro/cart_abandonment_window.avsc"),
    ),
    ("cart_event.avsc", include_str!("../avro/cart_event.avsc")),
    ("cart_priced.avsc", include_str!("../avro/cart_priced.avsc")),
    (
        "customer_upserted.avsc",
        include_str!("../avro/customer_upserted.avsc"),
    ),
    (
        "funnel_window.avsc",
        include_str!("../avro/funnel_window.avsc"),
    ),
    (
        "notification_requested.avsc",
        include_str!("../avro/notification_requested.avsc"),
    ),
    (
        "order_placed.avsc",
        include_str!("../avro/order_placed.avsc"),
    ),
    (
        "order_status_changed.avsc",
        include_str!("../avro/order_status_changed.avsc"),
    ),
    (
        "payment_event.avsc",
        include_str!("../avro/payment_event.avsc"),
    ),
    (
        "price_changed.avsc",
        include_str!("../avro/price_changed.avsc"),
    ),
    (
        "price_rule_upserted.avsc",
        include_str!("../avro/price_rule_upserted.avsc"),
    ),
    (
        "product_popularity_window.avsc",
        include_str!("../avro/product_popularity_window.avsc"),
    ),
    (
        "product_upserted.avsc",
        include_str!("../avro/product_upserted.avsc"),
    ),
    (
        "refund_requested.avsc",
        include_str!("../avro/refund_requested.avsc"),
    ),
    (
        "reservation_request.avsc",
        include_str!("../avro/reservation_request.avsc"),
    ),
    (
        "reservation_result.avsc",
        include_str!("../avro/reservation_result.avsc"),
    ),
    (
        "revenue_window.avsc",
        include_str!("../avro/revenue_window.avsc"),
    ),
    (
        "stock_adjusted.avsc",
        include_str!("../avro/stock_adjusted.avsc"),
    ),
    ("stock_level.avsc", include_str!("../avro/stock_level.avsc")),
    (
        "user_activity.avsc",
        include_str!("../avro/user_activity.avsc"),
    ),
];

/// The text of `file` (a bare file name such as `"order_placed.avsc"`), if it exists.
pub fn text(file: &str) -> Option<&'static str> {
    ALL.iter()
        .find(|(name, _)| *name == file)
        .map(|(_, text)| *text)
}

static PARSED: LazyLock<HashMap<&'static str, Schema>> = LazyLock::new(|| {
    ALL.iter()
        .map(|(name, text)| {
            let schema = Schema::parse_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (*name, schema)
        })
        .collect()
});

static RESOLVED: LazyLock<HashMap<&'static str, ResolvedSchema<'static>>> = LazyLock::new(|| {
    PARSED
        .iter()
        .map(|(name, schema)| {
            let resolved =
                ResolvedSchema::try_from(schema).unwrap_or_else(|e| panic!("{name}: {e}"));
            (*name, resolved)
        })
        .collect()
});

/// The parsed schema of `file`, parsed on first use and cached.
///
/// # Panics
/// If `file` is not one of [`ALL`] (a programming error: every [`crate::AvroRecord`] names
/// one, and a test parses them all).
pub fn parsed(file: &str) -> &'static Schema {
    PARSED
        .get(file)
        .unwrap_or_else(|| panic!("no schema file {file:?} in schemas/avro"))
}

/// `file`'s schema with its named types resolved, for the datum reader and writer.
pub(crate) fn resolved(file: &str) -> &'static ResolvedSchema<'static> {
    RESOLVED
        .get(file)
        .unwrap_or_else(|| panic!("no schema file {file:?} in schemas/avro"))
}

/// The full name (`namespace.name`) of the top-level record of `file`.
pub fn record_name(file: &str) -> String {
    match parsed(file) {
        Schema::Record(r) => r.name.fullname(None),
        other => panic!("{file}: top-level schema is not a record: {other:?}"),
    }
}
