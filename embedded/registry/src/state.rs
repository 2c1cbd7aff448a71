//! The registry's in-memory model, rebuilt by applying `_schemas` records in order. Pure: the
//! store feeds it records, the API reads it and proposes new records.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compat::Level;

/// Key of a `_schemas` record (Confluent's layout: a JSON object naming the record kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "keytype", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Key {
    Schema {
        subject: String,
        version: i32,
        magic: i32,
    },
    Config {
        subject: Option<String>,
        magic: i32,
    },
}

/// Value of a schema record; a tombstone (no value) is a permanent delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
}

/// Value of a config record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    #[serde(rename = "compatibilityLevel")]
    pub compatibility_level: Level,
}

/// One registered version of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub id: i32,
    pub schema: String,
    pub deleted: bool,
}

/// Everything the registry knows.
#[derive(Debug, Default)]
pub struct State {
    /// subject -> version -> registration.
    pub subjects: BTreeMap<String, BTreeMap<i32, Version>>,
    /// id -> canonical schema text (ids are global and never reused).
    pub schemas: BTreeMap<i32, String>,
    pub global_level: Option<Level>,
    pub subject_levels: BTreeMap<String, Level>,
}

impl State {
    /// Applies one `_schemas` record; unknown or malformed records are skipped (and logged)
    /// so one bad record never stops the registry from loading.
    pub fn apply(&mut self, key: &[u8], value: Option<&[u8]>) {
        let key: Key = match serde_json::from_slice(key) {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!(error = %e, "skipping _schemas record with an unknown key");
                return;
            }
        };
        match key {
            Key::Schema {
                subject, version, ..
            } => match value.map(serde_json::from_slice::<SchemaValue>) {
                Some(Ok(v)) => {
                    self.schemas.entry(v.id).or_insert_with(|| v.schema.clone());
                    self.subjects.entry(subject).or_default().insert(
                        version,
                        Version {
                            id: v.id,
                            schema: v.schema,
                            deleted: v.deleted,
                        },
                    );
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, %subject, version, "skipping malformed schema record");
                }
                None => {
                    if let Some(versions) = self.subjects.get_mut(&subject) {
                        versions.remove(&version);
                        if versions.is_empty() {
                            self.subjects.remove(&subject);
                        }
                    }
                }
            },
            Key::Config { subject, .. } => {
                let level = value
                    .and_then(|v| serde_json::from_slice::<ConfigValue>(v).ok())
                    .map(|c| c.compatibility_level);
                match (subject, level) {
                    (None, l) => self.global_level = l,
                    (Some(s), Some(l)) => {
                        self.subject_levels.insert(s, l);
                    }
                    (Some(s), None) => {
                        self.subject_levels.remove(&s);
                    }
                }
            }
        }
    }

    /// The level that governs `subject`.
    pub fn level_for(&self, subject: &str) -> Level {
        self.subject_levels
            .get(subject)
            .copied()
            .or(self.global_level)
            .unwrap_or_default()
    }

    /// Live (not soft-deleted) versions of a subject, oldest first.
    pub fn live_versions(&self, subject: &str) -> Vec<(i32, &Version)> {
        self.subjects
            .get(subject)
            .map(|vs| {
                vs.iter()
                    .filter(|(_, v)| !v.deleted)
                    .map(|(n, v)| (*n, v))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Id of an identical schema registered under any subject (ids are shared, like Confluent).
    pub fn id_of(&self, canonical: &str) -> Option<i32> {
        self.schemas
            .iter()
            .find(|(_, s)| s.as_str() == canonical)
            .map(|(id, _)| *id)
    }

    pub fn next_id(&self) -> i32 {
        self.schemas.keys().next_back().map_or(1, |id| id + 1)
    }

    /// Next version number; versions are never reused, even after a permanent delete of the
    /// latest, as long as any version of the subject remains.
    pub fn next_version(&self, subject: &str) -> i32 {
        self.subjects
            .get(subject)
            .and_then(|vs| vs.keys().next_back())
            .map_or(1, |v| v + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(subject: &str, version: i32) -> Vec<u8> {
        serde_json::to_vec(&Key::Schema {
            subject: subject.into(),
            version,
            magic: 1,
        })
        .unwrap()
    }

    fn value(subject: &str, version: i32, id: i32, deleted: bool) -> Vec<u8> {
        serde_json::to_vec(&SchemaValue {
            subject: subject.into(),
            version,
            id,
            schema: format!("s{id}"),
            deleted,
        })
        .unwrap()
    }

    #[test]
    fn replay_builds_subjects_ids_and_levels() {
        let mut s = State::default();
        s.apply(&key("a-value", 1), Some(&value("a-value", 1, 1, false)));
        s.apply(&key("a-value", 2), Some(&value("a-value", 2, 2, false)));
        s.apply(&key("b-value", 1), Some(&value("b-value", 1, 1, false)));
        s.apply(&key("a-value", 1), Some(&value("a-value", 1, 1, true)));
        s.apply(b"not json", Some(b"{}"));
        let cfg = serde_json::to_vec(&Key::Config {
            subject: Some("a-value".into()),
            magic: 0,
        })
        .unwrap();
        s.apply(&cfg, Some(br#"{"compatibilityLevel":"FULL"}"#));
        assert_eq!(
            s.live_versions("a-value")
                .iter()
                .map(|(v, _)| *v)
                .collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(s.id_of("s1"), Some(1));
        assert_eq!((s.next_id(), s.next_version("a-value")), (3, 3));
        assert_eq!(s.level_for("a-value"), Level::Full);
        assert_eq!(s.level_for("b-value"), Level::Backward);
        s.apply(&key("b-value", 1), None);
        assert!(
            !s.subjects.contains_key("b-value"),
            "tombstone removes the version"
        );
        assert_eq!(
            s.id_of("s1"),
            Some(1),
            "ids stay resolvable after a permanent delete"
        );
    }
}
