//! Metadata and FindCoordinator: this broker leads every partition and coordinates everything.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, MetadataRequest, MetadataResponse,
};

use super::{sb, topic_name};
use crate::broker::Broker;
use crate::cluster::{Cluster, Topic};
use crate::log::config::TopicConfig;

fn describe(broker: &Broker, name: &str, topic: &Topic) -> MetadataResponseTopic {
    let node = BrokerId(broker.config.node_id);
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(name)))
        .with_topic_id(topic.id)
        .with_is_internal(false)
        .with_topic_authorized_operations(i32::MIN)
        .with_partitions(
            (0..topic.partitions.len() as i32)
                .map(|p| {
                    MetadataResponsePartition::default()
                        .with_partition_index(p)
                        .with_leader_id(node)
                        .with_leader_epoch(0)
                        .with_replica_nodes(vec![node])
                        .with_isr_nodes(vec![node])
                })
                .collect(),
        )
}

fn unknown(name: Option<String>, id: uuid::Uuid, e: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(name.map(topic_name))
        .with_topic_id(id)
        .with_error_code(e.code())
}

/// Auto-creates `name` when allowed; returns the error to report otherwise.
fn auto_create(broker: &Broker, cluster: &mut Cluster, name: &str) -> Result<(), ResponseError> {
    let partitions = broker.config.default_partitions;
    super::admin::create_topic(broker, cluster, name, partitions, TopicConfig::default())
        .map_err(|e| e.code())
}

pub fn metadata(broker: &Broker, req: MetadataRequest, version: i16) -> MetadataResponse {
    let allow_create =
        broker.config.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    let mut cluster = broker.cluster.lock();
    let topics = match req.topics {
        None => cluster
            .topics
            .iter()
            .map(|(n, t)| describe(broker, n, t))
            .collect(),
        Some(wanted) => wanted
            .into_iter()
            .map(|w| {
                let name = match w.name {
                    Some(n) => n.0.to_string(),
                    None => match cluster.topics.iter().find(|(_, t)| t.id == w.topic_id) {
                        Some((n, _)) => n.clone(),
                        None => return unknown(None, w.topic_id, ResponseError::UnknownTopicId),
                    },
                };
                if !cluster.topics.contains_key(&name) {
                    let err = if allow_create {
                        auto_create(broker, &mut cluster, &name).err()
                    } else {
                        Some(ResponseError::UnknownTopicOrPartition)
                    };
                    if let Some(e) = err {
                        return unknown(Some(name), uuid::Uuid::nil(), e);
                    }
                }
                describe(broker, &name, &cluster.topics[&name])
            })
            .collect(),
    };
    let (host, port) = broker.advertised.clone();
    MetadataResponse::default()
        .with_brokers(vec![
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(broker.config.node_id))
                .with_host(sb(host))
                .with_port(port),
        ])
        .with_cluster_id(Some(sb(broker.config.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_cluster_authorized_operations(i32::MIN)
        .with_topics(topics)
}

pub fn find_coordinator(
    broker: &Broker,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let (host, port) = broker.advertised.clone();
    let node = BrokerId(broker.config.node_id);
    let bad_type = req.key_type > 1;
    let err = |key_empty: bool| {
        if bad_type || key_empty {
            ResponseError::InvalidRequest.code()
        } else {
            0
        }
    };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|k| {
                let e = err(k.is_empty());
                let c = Coordinator::default().with_key(k).with_error_code(e);
                if e == 0 {
                    c.with_node_id(node)
                        .with_host(sb(host.clone()))
                        .with_port(port)
                } else {
                    c.with_node_id(BrokerId(-1)).with_port(-1)
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let e = err(req.key.is_empty());
    if e != 0 {
        return FindCoordinatorResponse::default()
            .with_error_code(e)
            .with_node_id(BrokerId(-1))
            .with_port(-1);
    }
    FindCoordinatorResponse::default()
        .with_node_id(node)
        .with_host(sb(host))
        .with_port(port)
}
