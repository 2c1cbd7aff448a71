//! The topic catalogue: `topics.toml` is the single place topic names, partitioning, cleanup,
//! schemas and owners are declared. Code refers to topics through the constants in [`names`]
//! and [`typed`] (checked against the catalogue by a test), never by bare strings.
//!
//! # Layout
//! - [`catalogue`]: parsing and validation of `topics.toml` (co-partition groups, names).
//! - [`names`]: one constant per topic; [`typed`]: each bound to its value type.
//! - [`apply`]: make a cluster match the catalogue (create, fix configs, report drift).
//! - [`order_flow`]: the output topics the read-model sinks materialise.

pub mod apply;
pub mod catalogue;
pub mod names;
pub mod order_flow;
pub mod typed;

use std::sync::LazyLock;

pub use catalogue::{Catalogue, CatalogueError, Cleanup, TopicSpec};

/// The catalogue source, compiled in so every binary agrees on it.
pub const TOPICS_TOML: &str = include_str!("../topics.toml");

static CATALOGUE: LazyLock<Catalogue> =
    LazyLock::new(|| Catalogue::parse(TOPICS_TOML).expect("topics.toml is validated by the tests"));

/// The project's catalogue.
pub fn catalogue() -> &'static Catalogue {
    &CATALOGUE
}
