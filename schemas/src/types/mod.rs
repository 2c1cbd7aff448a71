//! Rust types mirroring every `.avsc`, one module per namespace area.
//!
//! Field names and order are exactly the Avro ones (a test checks them recursively); `["null", T]`
//! is `Option<T>`, `timestamp-millis` is `i64` milliseconds, money is `i64` in `*_minor` fields,
//! maps are `BTreeMap<String, String>`. Avro enums are unit enums whose first variant is
//! `Unknown` (the Avro default readers resolve unknown symbols to). A `payload` union of records
//! is an enum with one newtype variant per member, in union order. `event_id`, the only
//! `uuid`-typed field, is a [`uuid::Uuid`] so an invalid id cannot be written.

use apache_avro::Schema;

/// A top-level record: the value type of one topic, described by one `.avsc` file.
pub trait AvroRecord {
    /// The file under `schemas/avro/` (see [`crate::avsc::ALL`]).
    const SCHEMA_FILE: &'static str;

    /// The parsed schema of [`Self::SCHEMA_FILE`].
    fn schema() -> &'static Schema {
        crate::avsc::parsed(Self::SCHEMA_FILE)
    }
}

/// An Avro enum's symbol (`AWAITING_PAYMENT`): the form the sinks store and the API shows.
/// `UNKNOWN` for a value that does not serialise to a string.
pub fn symbol<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j.as_str().map(str::to_owned))
        .unwrap_or_else(|| "UNKNOWN".into())
}

/// Declares an Avro enum: `Unknown` first (the Avro default), then the given variants in symbol
/// order; serde names are the UPPER_SNAKE_CASE symbols. `ALL` lists every variant in order.
macro_rules! avro_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
        )]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name {
            /// Never written by producers (but see the enum's doc); readers get it for a symbol
            /// they do not know.
            #[default]
            Unknown,
            $(
                #[allow(missing_docs)]
                $variant,
            )+
        }

        impl $name {
            /// Every variant, in Avro symbol order.
            pub const ALL: &'static [Self] = &[Self::Unknown, $(Self::$variant),+];
        }
    };
}

/// Implements [`AvroRecord`] for a top-level record type.
macro_rules! avro_record {
    ($ty:ident, $file:literal) => {
        impl $crate::types::AvroRecord for $ty {
            const SCHEMA_FILE: &'static str = $file;
        }
    };
}

pub mod analytics;
pub mod carts;
pub mod catalog;
pub mod customers;
pub mod inventory;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod pricing;
pub mod storefront;

pub use analytics::*;
pub use carts::*;
pub use catalog::*;
pub use customers::*;
pub use inventory::*;
pub use notifications::*;
pub use orders::*;
pub use payments::*;
pub use pricing::*;
pub use storefront::*;

/// Serde for `event_id`: always the canonical hyphenated string, whatever the format's
/// human-readable flag (apache-avro's serde is not human-readable by default, which would make
/// `Uuid` serialize as 16 bytes and fail against `{"type":"string","logicalType":"uuid"}`).
pub(crate) mod uuid_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use uuid::Uuid;

    pub fn serialize<S: Serializer>(id: &Uuid, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&id.hyphenated())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        Uuid::parse_str(&text).map_err(serde::de::Error::custom)
    }
}
