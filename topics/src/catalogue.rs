//! `topics.toml` parsed and validated: names, partitioning, cleanup, schemas, owners.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// Kafka's topic name rules: 1–249 of `[A-Za-z0-9._-]`, not `.` or `..`.
fn valid_kafka_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 249
        && n != "."
        && n != ".."
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Naming conventions for topics the runtime creates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conventions {
    pub dlq_suffix: String,
    pub dlq_retention_ms: i64,
    pub changelog: String,
    pub repartition: String,
    /// Records that reach a window after it closed go to `<input><late_suffix>`.
    #[serde(default = "default_late_suffix")]
    pub late_suffix: String,
}

fn default_late_suffix() -> String {
    ".late".to_owned()
}

/// Log cleanup policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cleanup {
    Delete,
    Compact,
}

impl Cleanup {
    pub fn as_kafka(self) -> &'static str {
        match self {
            Self::Delete => "delete",
            Self::Compact => "compact",
        }
    }
}

/// One declared topic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub cleanup: Cleanup,
    #[serde(default)]
    pub retention_ms: Option<i64>,
    /// What the (string) key holds.
    pub key: String,
    /// Schema file under `schemas/avro/` of the value.
    pub value_schema: String,
    /// Topics in one group are joined on the same key and share a partition count.
    #[serde(default)]
    pub copartition: Option<String>,
    /// Whether a `<name><dlq_suffix>` dead-letter topic exists for it.
    #[serde(default)]
    pub dlq: bool,
    pub owner: String,
    pub description: String,
}

impl TopicSpec {
    /// Registry compatibility level for `<name>-value`: compacted topics keep old records
    /// forever and state is rebuilt from offset 0, so every version must stay readable
    /// (BACKWARD_TRANSITIVE); other topics check against the latest version (BACKWARD).
    pub fn compatibility(&self) -> &'static str {
        match self.cleanup {
            Cleanup::Compact => "BACKWARD_TRANSITIVE",
            Cleanup::Delete => "BACKWARD",
        }
    }

    /// Subject of the value schema (TopicNameStrategy).
    pub fn value_subject(&self) -> String {
        format!("{}-value", self.name)
    }

    /// The configs `apply` sets (and checks for drift).
    pub fn configs(&self) -> BTreeMap<&'static str, String> {
        let mut c = BTreeMap::new();
        c.insert("cleanup.policy", self.cleanup.as_kafka().to_owned());
        if let Some(ms) = self.retention_ms {
            c.insert("retention.ms", ms.to_string());
        }
        c
    }
}

/// The whole catalogue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub conventions: Conventions,
    #[serde(rename = "topic")]
    pub topics: Vec<TopicSpec>,
}

/// What is wrong with a catalogue; the message names the topic and the setting.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("topics.toml does not parse: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("topic {0:?}: {1}")]
    Topic(String, String),
    #[error("co-partition group {group:?} mixes partition counts: {detail}")]
    Copartition { group: String, detail: String },
}

/// A topic the runtime derives from the catalogue (dead letters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub configs: BTreeMap<&'static str, String>,
}

impl Catalogue {
    /// Parses and validates.
    pub fn parse(text: &str) -> Result<Self, CatalogueError> {
        let c: Self = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), CatalogueError> {
        let bad =
            |t: &TopicSpec, why: &str| Err(CatalogueError::Topic(t.name.clone(), why.to_owned()));
        let mut seen = BTreeSet::new();
        for t in &self.topics {
            if !valid_kafka_name(&t.name) {
                return bad(t, "name must be 1-249 characters of [A-Za-z0-9._-]");
            }
            if !seen.insert(&t.name) {
                return bad(t, "declared twice");
            }
            if !(1..=10_000).contains(&t.partitions) {
                return bad(t, "partitions must be between 1 and 10000");
            }
            if !(1..=5).contains(&t.replication_factor) {
                return bad(t, "replication_factor must be between 1 and 5");
            }
            if t.retention_ms.is_some_and(|ms| ms < -1) {
                return bad(t, "retention_ms must be -1 (forever) or positive");
            }
            if std::path::Path::new(&t.value_schema)
                .extension()
                .is_none_or(|e| e != "avsc")
            {
                return bad(
                    t,
                    "value_schema must name an .avsc file under schemas/avro/",
                );
            }
        }
        let mut groups: BTreeMap<&str, Vec<&TopicSpec>> = BTreeMap::new();
        for t in &self.topics {
            if let Some(g) = &t.copartition {
                groups.entry(g).or_default().push(t);
            }
        }
        for (group, members) in groups {
            let counts: BTreeSet<i32> = members.iter().map(|t| t.partitions).collect();
            if counts.len() > 1 {
                let detail = members
                    .iter()
                    .map(|t| format!("{}={}", t.name, t.partitions))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(CatalogueError::Copartition {
                    group: group.to_owned(),
                    detail,
                });
            }
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&TopicSpec> {
        self.topics.iter().find(|t| t.name == name)
    }

    /// Dead-letter topics for the topics that declare `dlq = true`.
    pub fn dlq_topics(&self) -> Vec<DerivedTopic> {
        self.topics
            .iter()
            .filter(|t| t.dlq)
            .map(|t| {
                let mut configs = BTreeMap::new();
                configs.insert("cleanup.policy", "delete".to_owned());
                configs.insert(
                    "retention.ms",
                    self.conventions.dlq_retention_ms.to_string(),
                );
                DerivedTopic {
                    name: format!("{}{}", t.name, self.conventions.dlq_suffix),
                    partitions: t.partitions,
                    replication_factor: t.replication_factor,
                    configs,
                }
            })
            .collect()
    }

    /// Everything `apply` manages: declared topics and their dead-letter topics.
    pub fn all(&self) -> Vec<DerivedTopic> {
        let mut out: Vec<DerivedTopic> = self
            .topics
            .iter()
            .map(|t| DerivedTopic {
                name: t.name.clone(),
                partitions: t.partitions,
                replication_factor: t.replication_factor,
                configs: t.configs(),
            })
            .collect();
        out.extend(self.dlq_topics());
        out
    }

    /// Name of a state store's changelog topic.
    pub fn changelog(&self, app: &str, store: &str) -> String {
        self.conventions
            .changelog
            .replace("{app}", app)
            .replace("{store}", store)
    }

    /// Name of an app's repartition topic.
    pub fn repartition(&self, app: &str, name: &str) -> String {
        self.conventions
            .repartition
            .replace("{app}", app)
            .replace("{name}", name)
    }

    /// Name of the topic where an input's late records go.
    pub fn late(&self, input: &str) -> String {
        format!("{input}{}", self.conventions.late_suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
        [conventions]
        dlq_suffix = ".dlq"
        dlq_retention_ms = 100
        changelog = "{app}.{store}-changelog"
        repartition = "{app}.{name}-repartition"
        [[topic]]
        name = "a.one"
        partitions = 3
        replication_factor = 1
        cleanup = "delete"
        key = "k"
        value_schema = "one.avsc"
        copartition = "k"
        dlq = true
        owner = "x"
        description = "d"
    "#;

    #[test]
    fn parses_and_derives_dlq_and_changelog_names() {
        let c = Catalogue::parse(ONE).unwrap();
        assert_eq!(c.dlq_topics()[0].name, "a.one.dlq");
        assert_eq!(c.all().len(), 2);
        assert_eq!(
            c.changelog("inventory", "stock"),
            "inventory.stock-changelog"
        );
    }

    #[test]
    fn refuses_broken_copartition_groups_and_bad_settings() {
        let second = ONE
            .split("[[topic]]")
            .nth(1)
            .unwrap()
            .replace("a.one", "a.two")
            .replace("partitions = 3", "partitions = 4");
        let err = Catalogue::parse(&format!("{ONE}\n[[topic]]{second}"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("co-partition group \"k\"") && err.contains("a.two=4"),
            "{err}"
        );
        let err = Catalogue::parse(&ONE.replace("partitions = 3", "partitions = 0"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.one") && err.contains("partitions"), "{err}");
        let err = Catalogue::parse(&ONE.replace("cleanup = \"delete\"", "cleanup = \"forever\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cleanup") || err.contains("forever"), "{err}");
        assert!(
            Catalogue::parse(&ONE.replace("owner = \"x\"", "owner = \"x\"\ncolour = \"red\""))
                .is_err(),
            "unknown keys refused"
        );
    }
}
