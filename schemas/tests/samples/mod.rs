//! Fully populated samples of every top-level type: every `Option` is `Some`, every collection
//! non-empty, every enum a non-`UNKNOWN` symbol, and every union member used by some sample.

#![allow(dead_code)] // each test binary uses a subset
#![allow(clippy::unnecessary_wraps)] // `some` is shorthand for the Option fields

mod entities;
mod events;

pub use entities::*;
pub use events::*;

use uuid::Uuid;

/// A fixed UUIDv7-shaped id, distinct per `n`.
pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_a1b2_c3d4_7000_8000_0000_0000_0000 | n)
}

/// 2024-07-01T10:00:00Z plus `s` seconds, in ms.
pub fn at(s: i64) -> i64 {
    1_719_828_000_000 + s * 1000
}

pub fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

pub fn s(s: &str) -> String {
    s.to_owned()
}
