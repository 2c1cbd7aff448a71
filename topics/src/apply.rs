//! Makes a cluster match the catalogue: creates missing topics, fixes drifted configs and
//! reports partition-count drift (never changed automatically: it would move keys between
//! partitions and break per-key ordering and co-partitioned joins). Idempotent.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;

use crate::catalogue::{Catalogue, DerivedTopic};

/// A topic as it exists on the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Existing {
    pub partitions: i32,
    /// Configs explicitly set on the topic (not defaults).
    pub configs: BTreeMap<String, String>,
}

/// `(config key, current value if set, wanted value)`.
pub type ConfigChange = (String, Option<String>, String);

/// One step towards the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create(DerivedTopic),
    /// `(key, current value if set, wanted value)` for each drifted config.
    Alter {
        topic: String,
        changes: Vec<(String, Option<String>, String)>,
    },
    PartitionDrift {
        topic: String,
        actual: i32,
        declared: i32,
    },
}

/// Compares desired topics with what exists. Replication factors are capped at the number of
/// brokers (a one-broker dev cluster gets 1).
pub fn plan(
    desired: &[DerivedTopic],
    existing: &BTreeMap<String, Existing>,
    brokers: i32,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for d in desired {
        let Some(e) = existing.get(&d.name) else {
            let mut d = d.clone();
            d.replication_factor = d.replication_factor.min(brokers.max(1));
            actions.push(Action::Create(d));
            continue;
        };
        let changes: Vec<ConfigChange> = d
            .configs
            .iter()
            .filter(|(k, v)| e.configs.get(**k) != Some(*v))
            .map(|(k, v)| ((*k).to_owned(), e.configs.get(*k).cloned(), v.clone()))
            .collect();
        if !changes.is_empty() {
            actions.push(Action::Alter {
                topic: d.name.clone(),
                changes,
            });
        }
        if e.partitions != d.partitions {
            actions.push(Action::PartitionDrift {
                topic: d.name.clone(),
                actual: e.partitions,
                declared: d.partitions,
            });
        }
    }
    actions
}

/// What `apply` did.
#[derive(Debug, Default)]
pub struct Report {
    pub created: Vec<String>,
    pub altered: Vec<(String, Vec<ConfigChange>)>,
    pub partition_drift: Vec<(String, i32, i32)>,
    pub unchanged: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("creating {0}: {1}")]
    Create(String, String),
    #[error("altering configs of {0}: {1}")]
    Alter(String, String),
    #[error("created but without a partition leader in the metadata after {TIMEOUT:?}: {0}")]
    NotReady(String),
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Reads the topics the catalogue manages as they exist now, and the broker count.
pub async fn inspect(
    admin: &AdminClient<DefaultClientContext>,
    names: &[String],
) -> Result<(BTreeMap<String, Existing>, i32), ApplyError> {
    let metadata = admin.inner().fetch_metadata(None, TIMEOUT)?;
    let brokers = metadata.brokers().len() as i32;
    let mut existing = BTreeMap::new();
    for t in metadata.topics() {
        if names.iter().any(|n| n == t.name()) && t.error().is_none() {
            existing.insert(
                t.name().to_owned(),
                Existing {
                    partitions: t.partitions().len() as i32,
                    configs: BTreeMap::new(),
                },
            );
        }
    }
    let specs: Vec<ResourceSpecifier> = existing
        .keys()
        .map(|n| ResourceSpecifier::Topic(n))
        .collect();
    if !specs.is_empty() {
        for r in admin
            .describe_configs(&specs, &AdminOptions::new().request_timeout(Some(TIMEOUT)))
            .await?
        {
            let r = r.map_err(KafkaError::AdminOp)?;
            let rdkafka::admin::OwnedResourceSpecifier::Topic(name) = &r.specifier else {
                continue;
            };
            let explicit = r
                .entries
                .iter()
                .filter(|e| e.source == ConfigSource::DynamicTopic)
                .filter_map(|e| Some((e.name.clone(), e.value.clone()?)));
            if let Some(e) = existing.get_mut(name) {
                e.configs.extend(explicit);
            }
        }
    }
    Ok((existing, brokers))
}

/// Applies the catalogue (or only plans it when `dry_run`).
pub async fn apply(
    admin: &AdminClient<DefaultClientContext>,
    catalogue: &Catalogue,
    dry_run: bool,
) -> Result<Report, ApplyError> {
    let desired = catalogue.all();
    let names: Vec<String> = desired.iter().map(|d| d.name.clone()).collect();
    let (existing, brokers) = inspect(admin, &names).await?;
    let actions = plan(&desired, &existing, brokers);
    let mut report = Report::default();
    let opts = AdminOptions::new()
        .operation_timeout(Some(TIMEOUT))
        .request_timeout(Some(TIMEOUT));
    for action in actions {
        match action {
            Action::Create(d) => {
                if !dry_run {
                    let mut t = NewTopic::new(
                        &d.name,
                        d.partitions,
                        TopicReplication::Fixed(d.replication_factor),
                    );
                    for (k, v) in &d.configs {
                        t = t.set(k, v);
                    }
                    for r in admin.create_topics([&t], &opts).await? {
                        r.map_err(|(n, e)| ApplyError::Create(n, e.to_string()))?;
                    }
                }
                report.created.push(d.name);
            }
            Action::Alter { topic, changes } => {
                if !dry_run {
                    // AlterConfigs replaces every explicit config: keep the others as they are.
                    let mut merged: BTreeMap<String, String> = existing[&topic].configs.clone();
                    for (k, _, v) in &changes {
                        merged.insert(k.clone(), v.clone());
                    }
                    let mut alter = AlterConfig::new(ResourceSpecifier::Topic(&topic));
                    for (k, v) in &merged {
                        alter = alter.set(k, v);
                    }
                    for r in admin.alter_configs([&alter], &opts).await? {
                        r.map_err(|(_, e)| ApplyError::Alter(topic.clone(), e.to_string()))?;
                    }
                }
                report.altered.push((topic, changes));
            }
            Action::PartitionDrift {
                topic,
                actual,
                declared,
            } => report.partition_drift.push((topic, actual, declared)),
        }
    }
    if !dry_run && !report.created.is_empty() {
        await_usable(admin, &report.created).await?;
    }
    report.unchanged =
        names.len() - report.created.len() - report.altered.len() - report.partition_drift.len();
    Ok(report)
}

/// Waits until every created topic is in the metadata with a leader for each partition.
/// Apache Kafka answers CreateTopics before that; whatever runs after `apply` (a processor
/// checking its inputs, a producer) must find the topics usable.
async fn await_usable(
    admin: &AdminClient<DefaultClientContext>,
    created: &[String],
) -> Result<(), ApplyError> {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let metadata = admin.inner().fetch_metadata(None, TIMEOUT)?;
        let usable = |name: &str| {
            metadata.topics().iter().any(|t| {
                t.name() == name
                    && t.error().is_none()
                    && !t.partitions().is_empty()
                    && t.partitions().iter().all(|p| p.leader() >= 0)
            })
        };
        let waiting: Vec<&str> = created
            .iter()
            .map(String::as_str)
            .filter(|n| !usable(n))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(ApplyError::NotReady(waiting.join(", ")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, partitions: i32, retention: &str) -> DerivedTopic {
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy", "delete".to_owned());
        configs.insert("retention.ms", retention.to_owned());
        DerivedTopic {
            name: name.into(),
            partitions,
            replication_factor: 3,
            configs,
        }
    }

    #[test]
    fn plans_creates_drift_and_nothing_when_in_sync() {
        let desired = vec![
            topic("a", 3, "100"),
            topic("b", 3, "100"),
            topic("c", 6, "100"),
        ];
        let mut existing = BTreeMap::new();
        let synced: BTreeMap<String, String> = [
            ("cleanup.policy".to_owned(), "delete".to_owned()),
            ("retention.ms".to_owned(), "100".to_owned()),
        ]
        .into();
        existing.insert(
            "b".to_owned(),
            Existing {
                partitions: 3,
                configs: synced.clone(),
            },
        );
        let mut drifted = synced.clone();
        drifted.insert("retention.ms".into(), "5".into());
        existing.insert(
            "c".to_owned(),
            Existing {
                partitions: 4,
                configs: drifted,
            },
        );
        let actions = plan(&desired, &existing, 1);
        assert_eq!(actions.len(), 3);
        assert!(
            matches!(&actions[0], Action::Create(d) if d.name == "a" && d.replication_factor == 1)
        );
        assert_eq!(
            actions[1],
            Action::Alter {
                topic: "c".into(),
                changes: vec![("retention.ms".into(), Some("5".into()), "100".into())]
            }
        );
        assert_eq!(
            actions[2],
            Action::PartitionDrift {
                topic: "c".into(),
                actual: 4,
                declared: 6
            }
        );
        existing.insert(
            "a".to_owned(),
            Existing {
                partitions: 3,
                configs: synced.clone(),
            },
        );
        existing.insert(
            "c".to_owned(),
            Existing {
                partitions: 6,
                configs: synced,
            },
        );
        assert!(
            plan(&desired, &existing, 1).is_empty(),
            "in sync: nothing to do"
        );
    }
}
