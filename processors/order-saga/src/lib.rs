//! `techpotli-order-saga`: orchestrates each order. placed → reserving (one request per line) →
//! reserved → awaiting payment → paid → confirmed; any rejected line, failed payment or payment
//! timeout → compensating (release every line, refund a captured payment) → cancelled. Every
//! order reaches a terminal state; late or duplicate events never move a terminal order.
//!
//! # Layout
//! - [`saga`]: the state machine, pure: `step(state, input) -> (state, outputs)`; exhaustive
//!   unit tests over every state × every input.
//! - [`processor`]: the adapter to the runtime — decode inputs, keep each order's [`saga::Saga`]
//!   in a store, turn outputs into records and timers.
//! - `main.rs`: the binary (`techpotli-order-saga`), settings from the environment.

pub mod processor;
pub mod saga;

pub use processor::OrderSaga;
