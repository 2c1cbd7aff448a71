//! Sink loop settings. Environment variables (and the optional `TECHPOTLI_CONFIG_FILE`, read
//! through [`crate::config::load`]); a bad value stops start-up naming the variable.
//!
//! | variable | default |
//! |---|---|
//! | `KAFKA_BOOTSTRAP` | `127.0.0.1:9092` |
//! | `SCHEMA_REGISTRY_URL` | `http://127.0.0.1:8081` |
//! | `TECHPOTLI_INSTANCE_ID` | the host name |
//! | `TECHPOTLI_SINK_MAX_BATCH` | `500` records |
//! | `TECHPOTLI_SINK_LINGER_MS` | `50` |
//! | `TECHPOTLI_SESSION_TIMEOUT_MS` | `10000` |
//! | `TECHPOTLI_STATIC_MEMBERSHIP` | `true` |
//! | `TECHPOTLI_ADMIN_LISTEN` | `127.0.0.1:9100` |

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default most records per batch (one DB transaction): large enough to amortise the commit,
/// small enough that a retried batch is cheap.
pub const DEFAULT_MAX_BATCH: usize = 500;
/// Default longest wait, from a batch's first record, for more records before applying it.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(50);
/// First back-off after a transient failure; doubled per attempt up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest back-off between retries of a failing batch.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long the DLQ producer may take to acknowledge dead letters before the batch is retried.
pub const DLQ_TIMEOUT: Duration = Duration::from_secs(30);

/// The keys [`SinkConfig::from_env`] reads (for `--help`'s table, which a test keeps in step).
pub fn keys() -> &'static [&'static str] {
    Env::KEYS
}

/// Settings of one sink instance.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub bootstrap: String,
    /// Consumer group id, `dlq.app` header and metrics `app` label.
    pub app_id: String,
    /// Stable instance id (`group.instance.id` under static membership).
    pub instance_id: String,
    pub topics: Vec<String>,
    /// Most records per batch.
    pub max_batch: usize,
    /// Longest wait from a batch's first record before it is applied.
    pub linger: Duration,
    pub session_timeout: Duration,
    pub static_membership: bool,
    /// Registry for connectors that decode Avro.
    pub schema_registry_url: String,
}

impl SinkConfig {
    pub fn new(bootstrap: &str, app_id: &str, instance_id: &str, topics: &[&str]) -> Self {
        Self {
            bootstrap: bootstrap.to_owned(),
            app_id: app_id.to_owned(),
            instance_id: instance_id.to_owned(),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            max_batch: DEFAULT_MAX_BATCH,
            linger: DEFAULT_LINGER,
            session_timeout: Duration::from_secs(10),
            static_membership: true,
            schema_registry_url: "http://127.0.0.1:8081".into(),
        }
    }

    /// Settings of `app` consuming `topics` from the environment, plus the admin address.
    pub fn from_env(app_id: &str, topics: &[&str]) -> Result<(Self, SocketAddr), String> {
        let s: Env = crate::config::load(&Env::default(), Env::KEYS)?;
        let instance = s
            .instance_id
            .clone()
            .unwrap_or_else(crate::config::default_instance_id);
        let mut cfg = Self::new(&s.kafka_bootstrap, app_id, &instance, topics);
        cfg.max_batch = s.sink_max_batch;
        cfg.linger = Duration::from_millis(s.sink_linger_ms);
        cfg.session_timeout = Duration::from_millis(s.session_timeout_ms);
        cfg.static_membership = s.static_membership;
        cfg.schema_registry_url = s.schema_registry_url;
        cfg.validate()?;
        let admin = s.admin_listen.parse().map_err(|e| {
            format!(
                "setting TECHPOTLI_ADMIN_LISTEN={:?}: not a socket address: {e}",
                s.admin_listen
            )
        })?;
        Ok((cfg, admin))
    }

    /// Checks the settings, naming the bad one.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |what: &str| Err(format!("sink setting {what}"));
        if self.bootstrap.trim().is_empty() {
            return bad("KAFKA_BOOTSTRAP: empty");
        }
        if self.instance_id.is_empty()
            || !self
                .instance_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return bad("TECHPOTLI_INSTANCE_ID: must be non-empty [A-Za-z0-9._-] characters");
        }
        if self.topics.is_empty() {
            return bad("topics: none given");
        }
        if !(1..=100_000).contains(&self.max_batch) {
            return bad("TECHPOTLI_SINK_MAX_BATCH: must be within 1..=100000");
        }
        if !(1..=60_000).contains(&self.linger.as_millis()) {
            return bad("TECHPOTLI_SINK_LINGER_MS: must be within 1..=60000");
        }
        if !(1_000..=300_000).contains(&self.session_timeout.as_millis()) {
            return bad("TECHPOTLI_SESSION_TIMEOUT_MS: must be within 1000..=300000");
        }
        Ok(())
    }
}

/// The environment settings (see the module table). Unknown file keys are tolerated: one
/// settings file may also carry the connector's own keys (`database_url`, …).
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct Env {
    kafka_bootstrap: String,
    schema_registry_url: String,
    instance_id: Option<String>,
    sink_max_batch: usize,
    sink_linger_ms: u64,
    session_timeout_ms: u64,
    static_membership: bool,
    admin_listen: String,
}

impl Env {
    const KEYS: &'static [&'static str] = &[
        "kafka_bootstrap",
        "schema_registry_url",
        "instance_id",
        "sink_max_batch",
        "sink_linger_ms",
        "session_timeout_ms",
        "static_membership",
        "admin_listen",
    ];
}

impl Default for Env {
    fn default() -> Self {
        Self {
            kafka_bootstrap: "127.0.0.1:9092".into(),
            schema_registry_url: "http://127.0.0.1:8081".into(),
            instance_id: None,
            sink_max_batch: DEFAULT_MAX_BATCH,
            sink_linger_ms: DEFAULT_LINGER.as_millis() as u64,
            session_timeout_ms: 10_000,
            static_membership: true,
            admin_listen: "127.0.0.1:9100".into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn environment_settings_and_bad_values_name_the_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TECHPOTLI_SINK_MAX_BATCH", "20");
            jail.set_env("TECHPOTLI_SINK_LINGER_MS", "7");
            jail.set_env("TECHPOTLI_INSTANCE_ID", "s1");
            let (c, _) = SinkConfig::from_env("sink", &["t"]).unwrap();
            assert_eq!((c.max_batch, c.linger.as_millis()), (20, 7));
            jail.set_env("TECHPOTLI_SINK_MAX_BATCH", "0");
            let err = SinkConfig::from_env("sink", &["t"]).unwrap_err();
            assert!(err.contains("TECHPOTLI_SINK_MAX_BATCH"), "{err}");
            jail.set_env("TECHPOTLI_SINK_MAX_BATCH", "many");
            let err = SinkConfig::from_env("sink", &["t"]).unwrap_err();
            assert!(err.contains("TECHPOTLI_SINK_MAX_BATCH"), "{err}");
            Ok(())
        });
    }
}
