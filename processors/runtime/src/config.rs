//! Runtime settings. Defaults follow Kafka Streams under EOS (100 ms commit interval) so
//! latency stays low while each transaction still carries a batch.

use std::time::Duration;

/// Settings of one runtime instance.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// Application id: the consumer group id and the prefix of changelog topics and of the
    /// `transactional.id`.
    pub app_id: String,
    /// Stable per-instance id: `group.instance.id` (static membership, so a restarted
    /// instance gets its partitions back without a group rebalance) and the
    /// `transactional.id` suffix (so a restart fences its own zombie at once).
    pub instance_id: String,
    /// Topics consumed; they must exist and should be co-partitioned (a task is a partition
    /// number across all of them).
    pub input_topics: Vec<String>,
    /// Longest time a batch collects records before its transaction commits.
    pub commit_interval: Duration,
    /// Most records in one transaction.
    pub max_batch: usize,
    /// Deadline of blocking transaction calls (and `transaction.timeout.ms`).
    pub transaction_timeout: Duration,
    /// `session.timeout.ms`: how long a crashed instance keeps its partitions if it does not
    /// come back with the same instance id.
    pub session_timeout: Duration,
}

impl RuntimeConfig {
    pub fn new(bootstrap: &str, app_id: &str, instance_id: &str, input_topics: &[&str]) -> Self {
        Self {
            bootstrap: bootstrap.to_owned(),
            app_id: app_id.to_owned(),
            instance_id: instance_id.to_owned(),
            input_topics: input_topics.iter().map(|t| (*t).to_owned()).collect(),
            commit_interval: Duration::from_millis(100),
            max_batch: 1000,
            transaction_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(10),
        }
    }

    /// `<app>-<instance>`.
    pub fn transactional_id(&self) -> String {
        format!("{}-{}", self.app_id, self.instance_id)
    }

    /// Checks the settings, naming the bad one.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |what: &str| Err(format!("runtime setting {what}"));
        if self.bootstrap.trim().is_empty() {
            return bad("bootstrap: empty");
        }
        if self.app_id.trim().is_empty() {
            return bad("app_id: empty");
        }
        if self.instance_id.trim().is_empty() {
            return bad("instance_id: empty");
        }
        if self.input_topics.is_empty() {
            return bad("input_topics: none given");
        }
        if self.max_batch == 0 {
            return bad("max_batch: must be at least 1");
        }
        if self.commit_interval.is_zero() {
            return bad("commit_interval: must be positive");
        }
        Ok(())
    }
}
