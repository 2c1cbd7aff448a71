//! Topic administration: CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs,
//! IncrementalAlterConfigs.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse as LegacyAlterResponse;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, CreatePartitionsRequest, CreatePartitionsResponse,
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};

use super::{sb, topic_name};
use crate::broker::Broker;
use crate::cluster::{Cluster, CreateError};
use crate::log::config::{ConfigError, TopicConfig};
use crate::log::partition::PartitionLog;
use crate::storage::MetaEvent;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

/// Creates a topic and records it durably; used by CreateTopics and auto-creation.
pub fn create_topic(
    broker: &Broker,
    cluster: &mut Cluster,
    name: &str,
    partitions: i32,
    config: TopicConfig,
) -> Result<(), CreateError> {
    let topic = cluster.create_topic(name, partitions, 1, config)?;
    if let Some(store) = &broker.store {
        store.record(&MetaEvent::TopicCreated {
            name: name.to_owned(),
            id: topic.id,
            partitions,
            config: topic.config.clone(),
        });
    }
    tracing::info!(topic = name, partitions, "topic created");
    Ok(())
}

/// The partition count that explicit replica assignments give (`None`: there are none), as
/// Kafka checks them: count and factor must then be -1, partitions numbered 0..n, and every
/// replica an existing broker — here, this one, once.
fn assignment_count(
    t: &kafka_protocol::messages::create_topics_request::CreatableTopic,
    node_id: i32,
) -> Result<Option<i32>, CreateError> {
    if t.assignments.is_empty() {
        return Ok(None);
    }
    if t.num_partitions != -1 || t.replication_factor != -1 {
        return Err(CreateError::InvalidRequest(
            "Both numPartitions or replicationFactor and replicasAssignments were set. Both \
             cannot be used at the same time."
                .into(),
        ));
    }
    let n = i32::try_from(t.assignments.len()).unwrap_or(i32::MAX);
    let mut seen: Vec<i32> = t.assignments.iter().map(|a| a.partition_index).collect();
    seen.sort_unstable();
    if seen != (0..n).collect::<Vec<_>>() {
        return Err(CreateError::Assignment(format!(
            "Partitions should be numbered 0 to {} without gaps, got {seen:?}.",
            n - 1
        )));
    }
    for a in &t.assignments {
        let ids: Vec<i32> = a.broker_ids.iter().map(|b| b.0).collect();
        if ids != [node_id] {
            return Err(CreateError::Assignment(format!(
                "Partition {} has replicas {ids:?}; the only broker is {node_id}.",
                a.partition_index
            )));
        }
    }
    Ok(Some(n))
}

pub fn create_topics(
    broker: &Broker,
    req: CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let mut cluster = broker.cluster.lock();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let explicit = assignment_count(&t, broker.config.node_id);
            let partitions = match &explicit {
                Ok(Some(n)) => *n,
                _ if t.num_partitions == -1 => broker.config.default_partitions,
                _ => t.num_partitions,
            };
            // With explicit assignments Kafka takes the count and factor from them.
            let replication = if t.assignments.is_empty() {
                t.replication_factor
            } else {
                1
            };
            let result = TopicConfig::from_pairs(
                t.configs
                    .iter()
                    .map(|c| (c.name.as_str(), c.value.as_deref())),
            )
            .map_err(CreateError::from)
            .and_then(|config| {
                explicit?;
                if req.validate_only {
                    crate::cluster::validate_topic_name(&name)?;
                    if cluster.topics.contains_key(&name) {
                        return Err(CreateError::Exists(name.clone()));
                    }
                    if partitions <= 0 || partitions > crate::cluster::MAX_PARTITIONS {
                        return Err(CreateError::Partitions(partitions));
                    }
                    if replication != 1 && replication != -1 {
                        return Err(CreateError::Replication(replication));
                    }
                    return Ok(());
                }
                if replication != 1 && replication != -1 {
                    return Err(CreateError::Replication(replication));
                }
                create_topic(broker, &mut cluster, &name, partitions, config)
            });
            let mut r = CreatableTopicResult::default().with_name(t.name.clone());
            match result {
                Ok(()) => {
                    r = r.with_num_partitions(partitions).with_replication_factor(1);
                    if let Some(topic) = cluster.topics.get(&name) {
                        r = r.with_topic_id(topic.id);
                        if version >= 5 {
                            r = r.with_configs(Some(
                                topic
                                    .config
                                    .all()
                                    .map(|(k, v, explicit)| {
                                        CreatableTopicConfigs::default()
                                            .with_name(sb(k))
                                            .with_value(Some(sb(v)))
                                            .with_config_source(if explicit {
                                                SOURCE_TOPIC
                                            } else {
                                                SOURCE_DEFAULT
                                            })
                                    })
                                    .collect(),
                            ));
                        }
                    }
                }
                Err(e) => {
                    r = r
                        .with_error_code(e.code().code())
                        .with_error_message(Some(sb(e.to_string())))
                        .with_num_partitions(-1)
                        .with_replication_factor(-1);
                }
            }
            r
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

pub fn delete_topics(broker: &Broker, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let mut cluster = broker.cluster.lock();
    let mut groups = broker.groups.lock();
    let mut wanted: Vec<(Option<String>, uuid::Uuid)> = req
        .topic_names
        .iter()
        .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
        .collect();
    wanted.extend(
        req.topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id)),
    );
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            // The result names the topic as asked: `name` is not nullable before v6, and a
            // null there is a response clients cannot parse.
            let asked = name.clone();
            let name = name.or_else(|| {
                cluster
                    .topics
                    .iter()
                    .find(|(_, t)| t.id == id)
                    .map(|(n, _)| n.clone())
            });
            let r = DeletableTopicResult::default().with_topic_id(id);
            let Some(name) = name.filter(|n| cluster.topics.contains_key(n)) else {
                let e = if id.is_nil() {
                    ResponseError::UnknownTopicOrPartition
                } else {
                    ResponseError::UnknownTopicId
                };
                return r.with_name(asked.map(topic_name)).with_error_code(e.code());
            };
            let topic = cluster.topics.remove(&name).expect("checked");
            for meta in cluster.txns.values_mut() {
                meta.partitions.retain(|(t, _)| *t != name);
            }
            groups.forget_topic(&name);
            if let Some(store) = &broker.store {
                store.record(&MetaEvent::TopicDeleted { name: name.clone() });
                store.delete_topic(&name, topic.partitions.len());
            }
            tracing::info!(topic = %name, "topic deleted");
            r.with_name(Some(topic_name(name))).with_topic_id(topic.id)
        })
        .collect();
    drop(groups);
    drop(cluster);
    broker.data_ready.notify_waiters();
    DeleteTopicsResponse::default().with_responses(responses)
}

pub fn create_partitions(
    broker: &Broker,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut cluster = broker.cluster.lock();
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let name = t.name.0.to_string();
            let r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let fail = |e: ResponseError, msg: String| r.clone().with_error_code(e.code()).with_error_message(Some(sb(msg)));
            let Some(topic) = cluster.topics.get_mut(&name) else {
                return fail(ResponseError::UnknownTopicOrPartition, format!("topic '{name}' does not exist"));
            };
            let current = topic.partitions.len() as i32;
            if t.count <= current || t.count > crate::cluster::MAX_PARTITIONS {
                return fail(
                    ResponseError::InvalidPartitions,
                    format!("topic '{name}' has {current} partitions; the new count must be larger (got {})", t.count),
                );
            }
            if !req.validate_only {
                topic.partitions.resize_with(t.count as usize, PartitionLog::default);
                if let Some(store) = &broker.store {
                    store.record(&MetaEvent::PartitionsAdded { name: name.clone(), count: t.count });
                }
            }
            r
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

fn broker_configs(broker: &Broker) -> Vec<(&'static str, String)> {
    let c = &broker.config;
    vec![
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
        ),
        ("num.partitions", c.default_partitions.to_string()),
        ("socket.request.max.bytes", c.max_frame_bytes.to_string()),
        (
            "transaction.max.timeout.ms",
            crate::txn::MAX_TXN_TIMEOUT_MS.to_string(),
        ),
        (
            "group.min.session.timeout.ms",
            c.group_limits.min_session_timeout.as_millis().to_string(),
        ),
        (
            "group.max.session.timeout.ms",
            c.group_limits.max_session_timeout.as_millis().to_string(),
        ),
        (
            "group.initial.rebalance.delay.ms",
            c.group_limits
                .initial_rebalance_delay
                .as_millis()
                .to_string(),
        ),
        ("default.replication.factor", "1".to_owned()),
        ("min.insync.replicas", "1".to_owned()),
    ]
}

pub fn describe_configs(broker: &Broker, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let cluster = broker.cluster.lock();
    let results = req
        .resources
        .into_iter()
        .map(|res| {
            let wanted = |k: &str| {
                res.configuration_keys
                    .as_ref()
                    .is_none_or(|ks| ks.iter().any(|w| w.as_str() == k))
            };
            let r = DescribeConfigsResult::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name.clone());
            let entry = |k: &str, v: &str, source: i8| {
                DescribeConfigsResourceResult::default()
                    .with_name(sb(k))
                    .with_value(Some(sb(v)))
                    .with_config_source(source)
                    .with_read_only(source == SOURCE_STATIC_BROKER)
            };
            match res.resource_type {
                RESOURCE_TOPIC => match cluster.topics.get(res.resource_name.as_str()) {
                    Some(t) => r.with_configs(
                        t.config
                            .all()
                            .filter(|(k, _, _)| wanted(k))
                            .map(|(k, v, explicit)| {
                                entry(
                                    k,
                                    v,
                                    if explicit {
                                        SOURCE_TOPIC
                                    } else {
                                        SOURCE_DEFAULT
                                    },
                                )
                            })
                            .collect(),
                    ),
                    None => r
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        .with_error_message(Some(sb(format!(
                            "topic '{}' does not exist",
                            res.resource_name.as_str()
                        )))),
                },
                RESOURCE_BROKER => r.with_configs(
                    broker_configs(broker)
                        .iter()
                        .filter(|(k, _)| wanted(k))
                        .map(|(k, v)| entry(k, v, SOURCE_STATIC_BROKER))
                        .collect(),
                ),
                other => r
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(sb(format!(
                        "resource type {other} is not supported"
                    )))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// Applies one IncrementalAlterConfigs operation (0 set, 1 delete, 2 append, 3 subtract).
fn apply_op(
    cfg: &mut TopicConfig,
    key: &str,
    op: i8,
    value: Option<&str>,
) -> Result<(), ConfigError> {
    let list = |c: &TopicConfig| -> Vec<String> {
        c.get(key)
            .map(|(v, _)| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    match (op, value) {
        (0, Some(v)) => cfg.set(key, v),
        (1, _) => cfg.delete(key),
        (2, Some(v)) => {
            let mut items = list(cfg);
            items.extend(
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !items.contains(s))
                    .collect::<Vec<_>>(),
            );
            cfg.set(key, &items.join(","))
        }
        (3, Some(v)) => {
            let drop: Vec<&str> = v.split(',').map(str::trim).collect();
            let items: Vec<String> = list(cfg)
                .into_iter()
                .filter(|s| !drop.contains(&s.as_str()))
                .collect();
            cfg.set(key, &items.join(","))
        }
        _ => Err(ConfigError(format!("invalid operation {op} for {key}"))),
    }
}

/// Validates a topic's new config (built from its current one) and stores it unless
/// `validate_only`; shared by both AlterConfigs forms.
fn change_topic_config(
    broker: &Broker,
    cluster: &mut Cluster,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    build: impl FnOnce(&TopicConfig) -> Result<TopicConfig, ConfigError>,
) -> Result<(), (ResponseError, String)> {
    if resource_type != RESOURCE_TOPIC {
        return Err((
            ResponseError::InvalidRequest,
            "only topic configs can be altered on this broker".into(),
        ));
    }
    let topic = cluster.topics.get_mut(name).ok_or_else(|| {
        (
            ResponseError::UnknownTopicOrPartition,
            format!("topic '{name}' does not exist"),
        )
    })?;
    let cfg = build(&topic.config).map_err(|e| (ResponseError::InvalidConfig, e.0))?;
    if !validate_only {
        topic.config = cfg.clone();
        if let Some(store) = &broker.store {
            store.record(&MetaEvent::TopicConfig {
                name: name.to_owned(),
                config: cfg,
            });
        }
    }
    Ok(())
}

pub fn alter_configs(
    broker: &Broker,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut cluster = broker.cluster.lock();
    let responses = req
        .resources
        .into_iter()
        .map(|res| {
            let result = change_topic_config(
                broker,
                &mut cluster,
                res.resource_type,
                res.resource_name.as_str(),
                req.validate_only,
                |current| {
                    let mut cfg = current.clone();
                    for c in &res.configs {
                        apply_op(
                            &mut cfg,
                            c.name.as_str(),
                            c.config_operation,
                            c.value.as_deref(),
                        )?;
                    }
                    Ok(cfg)
                },
            );
            let r = AlterConfigsResourceResponse::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name);
            match result {
                Ok(()) => r,
                Err((e, msg)) => r
                    .with_error_code(e.code())
                    .with_error_message(Some(sb(msg))),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// AlterConfigs (the legacy, non-incremental form): the given configs replace every
/// explicitly set config of the topic, as in Kafka.
pub fn alter_configs_legacy(broker: &Broker, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut cluster = broker.cluster.lock();
    let responses = req
        .resources
        .into_iter()
        .map(|res| {
            let result = change_topic_config(
                broker,
                &mut cluster,
                res.resource_type,
                res.resource_name.as_str(),
                req.validate_only,
                |_| {
                    TopicConfig::from_pairs(
                        res.configs
                            .iter()
                            .map(|c| (c.name.as_str(), c.value.as_deref())),
                    )
                },
            );
            let r = LegacyAlterResponse::default()
                .with_resource_type(res.resource_type)
                .with_resource_name(res.resource_name);
            match result {
                Ok(()) => r,
                Err((e, msg)) => r
                    .with_error_code(e.code())
                    .with_error_message(Some(sb(msg))),
            }
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}
