//! `techpotli`: the project's command line (the binary is a thin `main.rs` over this).
//!
//! # Layout
//! - `dev`: the whole pipeline in one process.
//! - `topics_cmd`: `topics apply|list` over the catalogue.
//! - `schemas_cmd`: `schemas register|check` against the registry.
//! - `tail`: decoded records of a topic as JSON lines.
//! - `docs_cmd`: renders `docs/topics.md`.
//! - `bench`: throughput benchmarks.

pub mod bench;
pub mod dev;
pub mod dev_processors;
pub mod docs_cmd;
pub mod schemas_cmd;
pub mod tail;
pub mod topics_cmd;
