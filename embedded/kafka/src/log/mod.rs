//! Partition logs, topic configs and the cleaner (retention and compaction).

pub mod cleaner;
pub mod config;
pub mod partition;
pub mod segment;
