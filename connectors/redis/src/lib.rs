//! `techpotli-connector-redis`: materialises the order flow's output topics into Redis hashes
//! with exactly-once effects. Each record is applied by a Lua script only if its offset is
//! newer than the one stored in the hash for its topic-partition, and the same script moves
//! the sink's offsets hash forward; the runtime's sink loop
//! ([`techpotli_runtime::sink`]) resumes from that hash.
//!
//! # Layout
//! - [`fields`]: records → hash writes (`stock:{sku}`, `order:{id}`), pure functions.
//! - [`script`]: the Lua (apply-if-newer, advance offsets) and the commands invoking it.
//! - [`sink`]: [`RedisSink`], the [`techpotli_runtime::sink::Sink`] implementation.
//! - [`settings`]: `REDIS_URL`, the key prefix and the topics.
//! - `bin/techpotli-sink-redis.rs`: the binary.
//!
//! Hashes: `stock:{sku}` (on_hand, reserved, available, flagged, last_change, event_id,
//! event_time_ms), `order:{id}` (placed fields, lines as JSON, status, status_reason,
//! status_sequence, status_at_ms); both carry `_offset:{topic}:{partition}` guards.
//! `sink:{app}:offsets` maps `topic:partition` to the next offset. With a Redis Cluster these
//! keys would need one hash slot per script call (not needed: one Redis here).

pub mod fields;
pub mod script;
pub mod settings;
pub mod sink;

pub use settings::Settings;
pub use sink::RedisSink;
/// The topics this sink materialises (shared with the other read-model sink).
pub use techpotli_topics::order_flow::OrderFlowTopics as Topics;

/// Consumer group and offsets-hash name of the binary.
pub const APP: &str = "techpotli-sink-redis";
