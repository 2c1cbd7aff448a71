//! `techpotli-telemetry`: the operational surface every TechPotli binary shares, so the API,
//! each processor and each sink log, count and answer probes the same way.
//!
//! # Layout
//! - [`logging`]: JSON logs on stderr through `tracing`, filtered by `RUST_LOG`.
//! - [`metrics`] module: the process-wide Prometheus recorder (installed once) with histogram
//!   buckets for latency metrics.
//! - [`admin`]: the `/healthz`, `/readyz`, `/metrics` router and a server for it.
//! - [`trace`]: W3C `traceparent` parsing, generation and child spans (propagated through
//!   Kafka headers).
//! - [`shutdown`]: a future that resolves on SIGTERM or SIGINT.

pub mod admin;
pub mod logging;
pub mod metrics;
pub mod shutdown;
pub mod trace;

pub use admin::{AdminServer, Readiness, admin_router};
pub use logging::init_logging;
pub use trace::TraceParent;
