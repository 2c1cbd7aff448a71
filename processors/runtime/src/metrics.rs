//! The runtime's Prometheus metrics (rendered by `techpotli-telemetry`'s `/metrics`). Every
//! series carries the `app` label so one scrape of `techpotli dev` (all processors in one
//! process) still tells them apart.

use std::time::Duration;

/// Records consumed in committed transactions (`topic` label).
pub const RECORDS_IN: &str = "runtime_records_in_total";
/// Records emitted in committed transactions (changelog and DLQ writes excluded).
pub const RECORDS_OUT: &str = "runtime_records_out_total";
/// Records (and failed timers) dead-lettered (`class` label).
pub const DLQ: &str = "runtime_dlq_total";
/// Timers fired in committed transactions.
pub const TIMERS_FIRED: &str = "runtime_timers_fired_total";
/// Transactions committed.
pub const COMMITS: &str = "runtime_commits_total";
/// Transactions aborted (and their batch rewound).
pub const ABORTS: &str = "runtime_aborts_total";
/// Begin → commit of one transaction.
pub const TXN_SECONDS: &str = "runtime_transaction_seconds";
/// Consumer lag per input partition, from librdkafka statistics (`topic`, `partition`).
pub const CONSUMER_LAG: &str = "runtime_consumer_lag";
/// Changelog records read while restoring (`store` label).
pub const RESTORED: &str = "runtime_restore_records_total";
/// Partitions whose state is being restored right now (0 when ready).
pub const RESTORING: &str = "runtime_restoring_partitions";
/// Keys held per store (`store` label; tables and global tables included), after each commit.
pub const STORE_KEYS: &str = "runtime_store_keys";
/// How long the last restore of a store took (`store` label).
pub const RESTORE_SECONDS: &str = "runtime_store_restore_seconds";
/// Wall clock minus the window operator's watermark (`store` label): how far windows trail.
pub const WATERMARK_LAG: &str = "runtime_window_watermark_lag_ms";
/// Records sent to `<input>.late` by a window operator (`store`, `topic` labels).
pub const LATE: &str = "runtime_window_late_records_total";

/// The per-batch numbers, recorded once its transaction committed.
pub(crate) struct BatchCounts<'a> {
    pub app: &'a str,
    pub records_by_topic: Vec<(String, u64)>,
    pub emitted: u64,
    pub dead: Vec<(&'static str, u64)>,
    pub timers: u64,
    pub elapsed: Duration,
}

pub(crate) fn committed(c: &BatchCounts<'_>) {
    let app = c.app.to_owned();
    for (topic, n) in &c.records_by_topic {
        metrics::counter!(RECORDS_IN, "app" => app.clone(), "topic" => topic.clone()).increment(*n);
    }
    metrics::counter!(RECORDS_OUT, "app" => app.clone()).increment(c.emitted);
    for (class, n) in &c.dead {
        metrics::counter!(DLQ, "app" => app.clone(), "class" => *class).increment(*n);
    }
    metrics::counter!(TIMERS_FIRED, "app" => app.clone()).increment(c.timers);
    metrics::counter!(COMMITS, "app" => app.clone()).increment(1);
    metrics::histogram!(TXN_SECONDS, "app" => app).record(c.elapsed.as_secs_f64());
}

pub(crate) fn aborted(app: &str) {
    metrics::counter!(ABORTS, "app" => app.to_owned()).increment(1);
}

pub(crate) fn restoring(app: &str, partitions: usize) {
    metrics::gauge!(RESTORING, "app" => app.to_owned()).set(partitions as f64);
}

pub(crate) fn restored(app: &str, store: &str, records: u64, took: Duration) {
    metrics::counter!(RESTORED, "app" => app.to_owned(), "store" => store.to_owned())
        .increment(records);
    metrics::gauge!(RESTORE_SECONDS, "app" => app.to_owned(), "store" => store.to_owned())
        .set(took.as_secs_f64());
}

/// Keys held per store across the instance's tasks, after a commit.
pub(crate) fn store_sizes<'s>(app: &str, sizes: impl Iterator<Item = (&'s str, usize)>) {
    let mut total: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (store, n) in sizes {
        *total.entry(store).or_default() += n;
    }
    for (store, n) in total {
        metrics::gauge!(STORE_KEYS, "app" => app.to_owned(), "store" => store.to_owned())
            .set(n as f64);
    }
}

/// Lag of every partition a consumer fetches, from its librdkafka statistics: the end of the
/// partition (last stable offset under read_committed) minus the position the application
/// reached (or, before it reached one, the committed offset). librdkafka's own
/// `consumer_lag` is measured against offsets the consumer commits itself, which the
/// processors never do (offsets commit through the producer's transaction).
pub(crate) fn lag_from_stats(app: &str, statistics: &rdkafka::Statistics) {
    for (name, topic) in &statistics.topics {
        for (p, part) in &topic.partitions {
            if *p < 0 || !part.desired {
                continue;
            }
            let end = if part.ls_offset >= 0 {
                part.ls_offset
            } else {
                part.hi_offset
            };
            let pos = [part.app_offset, part.committed_offset]
                .into_iter()
                .find(|o| *o >= 0);
            if let (true, Some(pos)) = (end >= 0, pos) {
                lag(app, name, *p, (end - pos).max(0));
            }
        }
    }
}

fn lag(app: &str, topic: &str, partition: i32, lag: i64) {
    metrics::gauge!(CONSUMER_LAG, "app" => app.to_owned(), "topic" => topic.to_owned(), "partition" => partition.to_string())
        .set(lag as f64);
}
