//! Topic configuration: the keys the broker understands, their defaults and validation.
//!
//! Unknown keys are refused like Kafka does ("Unknown topic config name"), so a typo in a
//! catalogue never silently becomes a default.

use std::collections::BTreeMap;

/// `(name, default)` of every supported topic config. Only the first block changes behaviour
/// here; the rest are accepted and reported so tools that set them work unchanged.
const KNOWN: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("retention.ms", "604800000"),
    ("retention.bytes", "-1"),
    ("segment.bytes", "1073741824"),
    ("max.message.bytes", "1048588"),
    ("min.compaction.lag.ms", "0"),
    ("delete.retention.ms", "86400000"),
    ("message.timestamp.type", "CreateTime"),
    ("compression.type", "producer"),
    ("min.insync.replicas", "1"),
    ("segment.ms", "604800000"),
    ("max.compaction.lag.ms", "9223372036854775807"),
    ("min.cleanable.dirty.ratio", "0.5"),
    ("unclean.leader.election.enable", "false"),
    ("flush.messages", "9223372036854775807"),
    ("flush.ms", "9223372036854775807"),
    ("message.timestamp.before.max.ms", "9223372036854775807"),
    ("message.timestamp.after.max.ms", "9223372036854775807"),
];

/// One topic's explicitly set configs (defaults are implied).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicConfig {
    values: BTreeMap<String, String>,
}

/// Why a config change was refused; the message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn validate(key: &str, value: &str) -> Result<(), ConfigError> {
    let bad = |why: &str| {
        Err(ConfigError(format!(
            "invalid value {value:?} for {key}: {why}"
        )))
    };
    match key {
        "cleanup.policy" => {
            let ok = value
                .split(',')
                .map(str::trim)
                .all(|p| p == "delete" || p == "compact");
            if ok {
                Ok(())
            } else {
                bad("expected delete, compact or compact,delete")
            }
        }
        "message.timestamp.type" => match value {
            "CreateTime" | "LogAppendTime" => Ok(()),
            _ => bad("expected CreateTime or LogAppendTime"),
        },
        "compression.type" => match value {
            "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd" => Ok(()),
            _ => bad("unknown codec"),
        },
        "unclean.leader.election.enable" => match value {
            "true" | "false" => Ok(()),
            _ => bad("expected true or false"),
        },
        "min.cleanable.dirty.ratio" => match value.parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => Ok(()),
            _ => bad("expected a number in [0, 1]"),
        },
        "retention.ms" | "retention.bytes" => match value.parse::<i64>() {
            Ok(v) if v >= -1 => Ok(()),
            _ => bad("expected an integer >= -1"),
        },
        _ => match value.parse::<i64>() {
            Ok(v) if v >= 0 => Ok(()),
            _ => bad("expected a non-negative integer"),
        },
    }
}

impl TopicConfig {
    /// Builds a config from `(key, value)` pairs, refusing unknown keys and bad values.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Self, ConfigError> {
        let mut cfg = Self::default();
        for (k, v) in pairs {
            match v {
                Some(v) => cfg.set(k, v)?,
                None => cfg.delete(k)?,
            }
        }
        Ok(cfg)
    }

    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        if !KNOWN.iter().any(|(k, _)| *k == key) {
            return Err(ConfigError(format!("Unknown topic config name: {key}")));
        }
        validate(key, value)?;
        self.values.insert(key.to_owned(), value.to_owned());
        Ok(())
    }

    pub fn delete(&mut self, key: &str) -> Result<(), ConfigError> {
        if !KNOWN.iter().any(|(k, _)| *k == key) {
            return Err(ConfigError(format!("Unknown topic config name: {key}")));
        }
        self.values.remove(key);
        Ok(())
    }

    /// The effective value of `key` and whether it was set on the topic.
    pub fn get(&self, key: &str) -> Option<(&str, bool)> {
        if let Some(v) = self.values.get(key) {
            return Some((v, true));
        }
        KNOWN
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, d)| (*d, false))
    }

    /// Every known key with its effective value and whether it was set explicitly.
    pub fn all(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        KNOWN.iter().map(|(k, _)| {
            let (v, explicit) = self.get(k).expect("known key");
            (*k, v, explicit)
        })
    }

    fn int(&self, key: &str) -> i64 {
        self.get(key)
            .and_then(|(v, _)| v.parse().ok())
            .expect("validated integer config")
    }

    pub fn compact(&self) -> bool {
        self.get("cleanup.policy")
            .is_some_and(|(v, _)| v.contains("compact"))
    }
    pub fn delete_policy(&self) -> bool {
        self.get("cleanup.policy")
            .is_some_and(|(v, _)| v.contains("delete"))
    }
    pub fn retention_ms(&self) -> i64 {
        self.int("retention.ms")
    }
    pub fn retention_bytes(&self) -> i64 {
        self.int("retention.bytes")
    }
    pub fn max_message_bytes(&self) -> usize {
        self.int("max.message.bytes") as usize
    }
    pub fn min_compaction_lag_ms(&self) -> i64 {
        self.int("min.compaction.lag.ms")
    }
    pub fn delete_retention_ms(&self) -> i64 {
        self.int("delete.retention.ms")
    }
    pub fn segment_bytes(&self) -> u64 {
        self.int("segment.bytes") as u64
    }
    pub fn segment_ms(&self) -> i64 {
        self.int("segment.ms")
    }
    /// Share of the cleanable bytes that must be new before compaction runs again.
    pub fn min_cleanable_dirty_ratio(&self) -> f64 {
        self.get("min.cleanable.dirty.ratio")
            .and_then(|(v, _)| v.parse().ok())
            .expect("validated ratio config")
    }

    pub fn log_append_time(&self) -> bool {
        self.get("message.timestamp.type")
            .is_some_and(|(v, _)| v == "LogAppendTime")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_name_the_key() {
        let e = TopicConfig::from_pairs([("retention.mss", Some("1"))]).unwrap_err();
        assert!(e.0.contains("retention.mss"), "{e}");
        let e = TopicConfig::from_pairs([("cleanup.policy", Some("forever"))]).unwrap_err();
        assert!(e.0.contains("cleanup.policy"), "{e}");
        let e = TopicConfig::from_pairs([("segment.bytes", Some("-5"))]).unwrap_err();
        assert!(e.0.contains("segment.bytes"), "{e}");
    }

    #[test]
    fn defaults_and_overrides() {
        let c = TopicConfig::from_pairs([("cleanup.policy", Some("compact,delete"))]).unwrap();
        assert!(c.compact() && c.delete_policy());
        assert_eq!(c.retention_ms(), 604_800_000);
        assert_eq!(c.get("cleanup.policy"), Some(("compact,delete", true)));
        assert_eq!(c.get("retention.ms"), Some(("604800000", false)));
        assert!(!TopicConfig::default().compact());
    }
}
