//! `techpotli-inventory`: stock reservation. Partitioned by SKU, so each SKU has exactly one
//! writer; it reserves only when `available >= quantity`, releases on request, answers every
//! request on `inventory.reservations` and publishes every change on `inventory.levels`.
//!
//! # Layout
//! - [`stock`]: the pure rules — a SKU's stock, a (order, SKU) hold, and what an adjustment, a
//!   reserve and a release do to them. No I/O; unit-tested exhaustively.
//! - [`processor`]: the adapter to the runtime — decode the input, load state from the stores,
//!   apply the rules, store the result, emit the answer and the new level.
//! - `main.rs`: the binary (`techpotli-inventory`), settings from the environment.

pub mod processor;
pub mod stock;

pub use processor::Inventory;
