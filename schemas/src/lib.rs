//! `techpotli-schemas`: the Avro value schemas of every topic as Rust types, the Confluent
//! wire-format codec over the schema registry, and registration / compatibility checks.
//!
//! # Layout
//! - `avro/*.avsc` (beside `src/`): one schema file per topic value, the source of truth
//!   (conventions in `docs/schemas.md`).
//! - [`avsc`]: every `.avsc` compiled in (`include_str!`): [`avsc::ALL`], [`avsc::text`],
//!   [`avsc::parsed`] (parsed once, cached).
//! - [`types`]: a Rust type per record, enum and union, one module per namespace area
//!   (`catalog`, `customers`, `inventory`, `storefront`, `carts`, `orders`, `payments`,
//!   `pricing`, `notifications`, `analytics`); every top-level type implements [`AvroRecord`].
//! - [`datum`]: unframed Avro datums: schema-aware encoding, decoding with schema resolution
//!   (union members matched by name: `resolve.rs` works around apache-avro matching by shape).
//! - [`codec`]: [`Codec`], the Confluent framing (magic `0`, big-endian schema id, datum) with
//!   ids and writer schemas from the registry (via schema_registry_converter), cached;
//!   [`CodecError`] classifies failures for DLQ routing; `decode_json` for `techpotli tail`.
//! - [`registration`]: `register_all` and `check_all` over `(topic, schema file)` pairs.
//!
//! Tests: `tests/agreement.rs` checks every type against its `.avsc` (round trip and field
//! names, recursively); `tests/codec.rs` runs the codec against the embedded broker + registry.

pub mod avsc;
pub mod codec;
pub mod datum;
pub mod registration;
mod registry;
mod resolve;
pub mod types;

pub use codec::{Codec, CodecError};
pub use types::AvroRecord;
