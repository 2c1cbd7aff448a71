//! `techpotli-pricing`: effective prices. Every product's price under the price rules that
//! apply to it now, kept current on `pricing.prices` as products, rules and time change.
//!
//! # Layout
//! - [`rules`]: the pure pricing functions — which rules apply, in which order, how they
//!   stack and round. No I/O, no clock; property-tested. Also the Arroyo UDFs' logic.
//! - [`cart`]: a cart's lines and its price from its SKUs' prices, pure.
//! - [`cart_flow`] (feature `processor`): carts on the runtime — the join of cart events with
//!   prices through repartitions by SKU and back by cart.
//! - [`processor`] (feature `processor`, default): the adapter to the runtime — decode and
//!   validate rules and products, broadcast rules to every task, time rule bounds, emit
//!   changed prices.
//! - `main.rs`: the binary (`techpotli-pricing`), settings from the environment.

pub mod cart;
#[cfg(feature = "processor")]
pub mod cart_flow;
#[cfg(feature = "processor")]
pub mod processor;
pub mod rules;

#[cfg(feature = "processor")]
pub use processor::Pricing;
