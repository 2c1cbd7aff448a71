//! `techpotli-connector-mysql`: materialises the order flow's output topics into MySQL /
//! MariaDB with exactly-once effects. The runtime's sink loop
//! ([`techpotli_runtime::sink`]) feeds batches; each batch is one DB transaction holding its
//! rows and the consumed offsets (`sink_offsets`), and the loop resumes from those offsets.
//!
//! # Layout
//! - [`rows`]: records → rows, pure functions (what each event means for the tables).
//! - [`store`]: the SQL — idempotent upserts, status history, offsets — and error classes
//!   (constraint → dead letter, connection → retry, anything else → stop).
//! - [`sink`]: [`MySqlSink`], the [`techpotli_runtime::sink::Sink`] implementation.
//! - [`migrate`]: the migrations over `migrations/*.sql`, under a lock so instances starting
//!   together apply them once.
//! - [`settings`]: `DATABASE_URL` and the topics, from the environment.
//! - `bin/techpotli-sink-mysql.rs`: the binary.
//!
//! Tables: `orders` (placed columns + current status), `order_lines`, `order_status_history`
//! (one row per status event, unique on `event_id` and on `(order_id, sequence)`),
//! `stock_levels`, `sink_offsets (sink, topic, partition, next_offset)`.

pub mod migrate;
pub mod rows;
pub mod settings;
pub mod sink;
pub mod store;

pub use migrate::MIGRATOR;
pub use settings::Settings;
pub use sink::MySqlSink;
/// The topics this sink materialises (shared with the other read-model sink).
pub use techpotli_topics::order_flow::OrderFlowTopics as Topics;

/// Consumer group and `sink_offsets.sink` of the binary.
pub const APP: &str = "techpotli-sink-mysql";
