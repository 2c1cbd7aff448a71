//! Runtime settings. Defaults favour latency (a 10 ms commit interval, see
//! [`DEFAULT_COMMIT_INTERVAL`]) while each transaction still carries a batch under load.
//!
//! A processor binary reads them with [`RuntimeConfig::from_env`]: environment variables
//! (below), optionally under a TOML file named by `TECHPOTLI_CONFIG_FILE` whose keys are the
//! variable names in lower case without the `TECHPOTLI_` prefix. Environment wins over the
//! file. A bad value stops start-up with an error naming the setting.
//!
//! | variable | default |
//! |---|---|
//! | `KAFKA_BOOTSTRAP` | `127.0.0.1:9092` |
//! | `SCHEMA_REGISTRY_URL` | `http://127.0.0.1:8081` |
//! | `TECHPOTLI_INSTANCE_ID` | the host name (a pod name under Kubernetes) |
//! | `TECHPOTLI_COMMIT_INTERVAL_MS` | `10` |
//! | `TECHPOTLI_MAX_BATCH` | `1000` |
//! | `TECHPOTLI_TRANSACTION_TIMEOUT_MS` | `30000` |
//! | `TECHPOTLI_SESSION_TIMEOUT_MS` | `10000` |
//! | `TECHPOTLI_STATIC_MEMBERSHIP` | `true` |
//! | `TECHPOTLI_ADMIN_LISTEN` | `127.0.0.1:9100` (`/healthz`, `/readyz`, `/metrics`) |

use std::net::SocketAddr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Default commit interval. Kafka Streams uses 100 ms under EOS; a continuously fed hop waits
/// up to this long for its transaction, and the order flow crosses three of them, so we pay
/// more (idle-free) transactions for latency: `bench orders` p99 at 1k orders/s went from
/// ~120 ms to ~80 ms, `bench runtime` (batches full at `max_batch`) did not move. Raise it where
/// a commit is expensive (replicated clusters, many partitions per transaction).
pub const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_millis(10);
/// Default most records per transaction.
pub const DEFAULT_MAX_BATCH: usize = 1000;
/// Default transaction timeout.
pub const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Default consumer session timeout.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of one runtime instance.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// Application id: the consumer group id and the prefix of changelog topics and of the
    /// `transactional.id`.
    pub app_id: String,
    /// Stable per-instance id: the `transactional.id` suffix (so a restart fences its own
    /// zombie at once) and, with [`RuntimeConfig::static_membership`], `group.instance.id`.
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
    /// KIP-345 static membership: a restarted instance gets its partitions back without a
    /// group rebalance. Static members do not leave the group on shutdown (by design of
    /// KIP-345); their partitions move after `session_timeout` if they do not come back.
    pub static_membership: bool,
    /// Schema registry for [`crate::Context::decode`] / [`crate::Context::emit_avro`];
    /// `None`: raw bytes only.
    pub schema_registry_url: Option<String>,
}

impl RuntimeConfig {
    pub fn new(bootstrap: &str, app_id: &str, instance_id: &str, input_topics: &[&str]) -> Self {
        Self {
            bootstrap: bootstrap.to_owned(),
            app_id: app_id.to_owned(),
            instance_id: instance_id.to_owned(),
            input_topics: input_topics.iter().map(|t| (*t).to_owned()).collect(),
            commit_interval: DEFAULT_COMMIT_INTERVAL,
            max_batch: DEFAULT_MAX_BATCH,
            transaction_timeout: DEFAULT_TRANSACTION_TIMEOUT,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            static_membership: true,
            schema_registry_url: None,
        }
    }

    /// The settings for `app` consuming `input_topics`, from the environment (and the optional
    /// file), plus the admin listener address.
    pub fn from_env(app_id: &str, input_topics: &[&str]) -> Result<(Self, SocketAddr), String> {
        let s: EnvSettings = load(&EnvSettings::default(), EnvSettings::KEYS)?;
        let instance = s.instance_id.clone().unwrap_or_else(default_instance_id);
        let mut cfg = Self::new(&s.kafka_bootstrap, app_id, &instance, input_topics);
        cfg.commit_interval = Duration::from_millis(s.commit_interval_ms);
        cfg.max_batch = s.max_batch;
        cfg.transaction_timeout = Duration::from_millis(s.transaction_timeout_ms);
        cfg.session_timeout = Duration::from_millis(s.session_timeout_ms);
        cfg.static_membership = s.static_membership;
        cfg.schema_registry_url = Some(s.schema_registry_url);
        cfg.validate()?;
        let admin = s.admin_listen.parse().map_err(|e| {
            format!(
                "setting TECHPOTLI_ADMIN_LISTEN={:?}: not a socket address: {e}",
                s.admin_listen
            )
        })?;
        Ok((cfg, admin))
    }

    /// `<app>-<instance>`.
    pub fn transactional_id(&self) -> String {
        format!("{}-{}", self.app_id, self.instance_id)
    }

    /// Checks the settings, naming the bad one.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |what: &str| Err(format!("runtime setting {what}"));
        let ms = |d: Duration| d.as_millis();
        if self.bootstrap.trim().is_empty() {
            return bad("KAFKA_BOOTSTRAP (bootstrap): empty");
        }
        if self.app_id.trim().is_empty() {
            return bad("app_id: empty");
        }
        if self.instance_id.trim().is_empty()
            || !self
                .instance_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return bad(
                "TECHPOTLI_INSTANCE_ID (instance_id): must be non-empty [A-Za-z0-9._-] characters",
            );
        }
        if self.input_topics.is_empty() {
            return bad("input_topics: none given");
        }
        if !(1..=100_000).contains(&self.max_batch) {
            return bad("TECHPOTLI_MAX_BATCH (max_batch): must be within 1..=100000");
        }
        if !(1..=60_000).contains(&ms(self.commit_interval)) {
            return bad("TECHPOTLI_COMMIT_INTERVAL_MS (commit_interval): must be within 1..=60000");
        }
        if !(1_000..=900_000).contains(&ms(self.transaction_timeout)) {
            return bad(
                "TECHPOTLI_TRANSACTION_TIMEOUT_MS (transaction_timeout): must be within 1000..=900000",
            );
        }
        if self.transaction_timeout <= self.commit_interval * 2 {
            return bad(
                "TECHPOTLI_TRANSACTION_TIMEOUT_MS (transaction_timeout): must exceed twice the commit interval",
            );
        }
        if !(1_000..=300_000).contains(&ms(self.session_timeout)) {
            return bad(
                "TECHPOTLI_SESSION_TIMEOUT_MS (session_timeout): must be within 1000..=300000",
            );
        }
        Ok(())
    }
}

/// The runtime's environment settings (see the module table).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EnvSettings {
    kafka_bootstrap: String,
    schema_registry_url: String,
    instance_id: Option<String>,
    commit_interval_ms: u64,
    max_batch: usize,
    transaction_timeout_ms: u64,
    session_timeout_ms: u64,
    static_membership: bool,
    admin_listen: String,
}

impl EnvSettings {
    const KEYS: &'static [&'static str] = &[
        "kafka_bootstrap",
        "schema_registry_url",
        "instance_id",
        "commit_interval_ms",
        "max_batch",
        "transaction_timeout_ms",
        "session_timeout_ms",
        "static_membership",
        "admin_listen",
    ];
}

impl Default for EnvSettings {
    fn default() -> Self {
        Self {
            kafka_bootstrap: "127.0.0.1:9092".into(),
            schema_registry_url: "http://127.0.0.1:8081".into(),
            instance_id: None,
            commit_interval_ms: DEFAULT_COMMIT_INTERVAL.as_millis() as u64,
            max_batch: DEFAULT_MAX_BATCH,
            transaction_timeout_ms: DEFAULT_TRANSACTION_TIMEOUT.as_millis() as u64,
            session_timeout_ms: DEFAULT_SESSION_TIMEOUT.as_millis() as u64,
            static_membership: true,
            admin_listen: "127.0.0.1:9100".into(),
        }
    }
}

/// The keys [`RuntimeConfig::from_env`] reads (for `--help`'s table, which a test keeps in step).
pub fn runtime_keys() -> &'static [&'static str] {
    EnvSettings::KEYS
}

/// Settings shared across the whole stack, read without the `TECHPOTLI_` prefix.
pub const UNPREFIXED: &[&str] = &[
    "kafka_bootstrap",
    "schema_registry_url",
    "database_url",
    "redis_url",
];

/// Loads settings `T`: `defaults`, then the TOML file named by `TECHPOTLI_CONFIG_FILE` (if
/// set), then for each of `keys` the variable `TECHPOTLI_<KEY>` (or `<KEY>` for the
/// [`UNPREFIXED`] ones). Processor binaries use it for their own settings too. Errors name
/// the variable (or file key) and what was wrong with it.
pub fn load<T: Serialize + DeserializeOwned>(defaults: &T, keys: &[&str]) -> Result<T, String> {
    let mut fig = Figment::from(Serialized::defaults(defaults));
    if let Ok(path) = std::env::var("TECHPOTLI_CONFIG_FILE") {
        if !std::path::Path::new(&path).is_file() {
            return Err(format!(
                "setting TECHPOTLI_CONFIG_FILE={path:?}: no such file"
            ));
        }
        fig = fig.merge(Toml::file(path));
    }
    let (raw, prefixed): (Vec<&str>, Vec<&str>) = keys.iter().partition(|k| UNPREFIXED.contains(k));
    fig = fig
        .merge(Env::raw().only(&raw))
        .merge(Env::prefixed("TECHPOTLI_").only(&prefixed));
    fig.extract().map_err(|e| {
        e.into_iter()
            .map(|e| {
                let key = e.path.join(".");
                let var = if UNPREFIXED.contains(&key.as_str()) {
                    key.to_uppercase()
                } else {
                    format!("TECHPOTLI_{}", key.to_uppercase())
                };
                format!("setting {var}: {}", e.kind)
            })
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// The host name (the pod name under Kubernetes, so a restarted pod of a StatefulSet keeps its
/// id), reduced to the characters ids allow.
pub(crate) fn default_instance_id() -> String {
    let raw = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    let id: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if id.is_empty() {
        "instance-0".into()
    } else {
        id
    }
}

#[cfg(test)]
// figment's Jail API fixes the closure's error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_setting() {
        let mut c = RuntimeConfig::new("b:9092", "app", "i0", &["in"]);
        assert_eq!(c.validate(), Ok(()));
        c.max_batch = 0;
        assert!(c.validate().unwrap_err().contains("TECHPOTLI_MAX_BATCH"));
        c.max_batch = 10;
        c.instance_id = "has space".into();
        assert!(c.validate().unwrap_err().contains("TECHPOTLI_INSTANCE_ID"));
        c.instance_id = "i0".into();
        c.transaction_timeout = Duration::from_millis(150);
        assert!(
            c.validate()
                .unwrap_err()
                .contains("TECHPOTLI_TRANSACTION_TIMEOUT_MS")
        );
    }

    #[test]
    fn environment_overrides_defaults_and_bad_values_name_the_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("KAFKA_BOOTSTRAP", "k:1");
            jail.set_env("TECHPOTLI_MAX_BATCH", "50");
            jail.set_env("TECHPOTLI_INSTANCE_ID", "pod-3");
            jail.set_env("TECHPOTLI_DATA_DIR", "ignored: not a runtime setting");
            let (c, admin) = RuntimeConfig::from_env("app", &["in"]).unwrap();
            assert_eq!(
                (c.bootstrap.as_str(), c.max_batch, c.instance_id.as_str()),
                ("k:1", 50, "pod-3")
            );
            assert_eq!(admin.port(), 9100);
            jail.set_env("TECHPOTLI_MAX_BATCH", "lots");
            let err = RuntimeConfig::from_env("app", &["in"]).unwrap_err();
            assert!(err.contains("TECHPOTLI_MAX_BATCH"), "{err}");
            jail.set_env("TECHPOTLI_MAX_BATCH", "0");
            let err = RuntimeConfig::from_env("app", &["in"]).unwrap_err();
            assert!(err.contains("TECHPOTLI_MAX_BATCH"), "{err}");
            jail.set_env("TECHPOTLI_MAX_BATCH", "10");
            jail.set_env("TECHPOTLI_ADMIN_LISTEN", "nowhere");
            let err = RuntimeConfig::from_env("app", &["in"]).unwrap_err();
            assert!(err.contains("TECHPOTLI_ADMIN_LISTEN"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_config_file_sits_under_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("rt.toml", "max_batch = 7\ncommit_interval_ms = 250\n")?;
            jail.set_env("TECHPOTLI_CONFIG_FILE", "rt.toml");
            jail.set_env("TECHPOTLI_COMMIT_INTERVAL_MS", "300");
            let (c, _) = RuntimeConfig::from_env("app", &["in"]).unwrap();
            assert_eq!(c.max_batch, 7);
            assert_eq!(c.commit_interval, Duration::from_millis(300));
            jail.create_file("bad.toml", "max_batchh = 7\n")?;
            jail.set_env("TECHPOTLI_CONFIG_FILE", "bad.toml");
            let err = RuntimeConfig::from_env("app", &["in"]).unwrap_err();
            assert!(err.contains("max_batchh"), "{err}");
            Ok(())
        });
    }
}
