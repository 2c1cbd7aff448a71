//! Protocol facts librdkafka's own test suite checks, each at the wire: per-record produce
//! errors (KIP-467), the response-wide fetch limit (KIP-74), CreateTopics with explicit replica
//! assignments, DeleteRecords, and the ACL APIs of a broker without an authorizer.

mod common;

use std::collections::BTreeSet;

use common::TestBroker;
use common::wire::{batch, call};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, BrokerId, CreateAclsRequest, CreateTopicsRequest,
    DeleteAclsRequest, DeleteRecordsRequest, DescribeAclsRequest, FetchRequest, ListOffsetsRequest,
    ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

/// `s` made unique to this test process, so a shared Kafka (CI's Apache Kafka pass) can run the
/// tests again and again.
fn name(s: &str) -> TopicName {
    static RUN: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string());
    TopicName(StrBytes::from_string(format!("{s}-{}", &RUN[..8])))
}

fn create(b: &TestBroker, topic: CreatableTopic) -> (i16, Option<String>, i32) {
    let resp = call(
        &b.bootstrap,
        7,
        &CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(5_000),
    );
    let r = &resp.topics[0];
    if r.error_code == 0 {
        common::wire::await_leaders(&b.bootstrap, r.name.as_str());
    }
    (
        r.error_code,
        r.error_message.as_ref().map(ToString::to_string),
        r.num_partitions,
    )
}

fn topic(n: &str, partitions: i32, configs: &[(&str, &str)]) -> CreatableTopic {
    use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;
    CreatableTopic::default()
        .with_name(name(n))
        .with_num_partitions(partitions)
        .with_replication_factor(1)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string((*k).to_owned()))
                        .with_value(Some(StrBytes::from_string((*v).to_owned())))
                })
                .collect(),
        )
}

/// Produces `records` as one batch to `topic`/`partition` at `version`.
fn produce(
    b: &TestBroker,
    version: i16,
    t: &str,
    partition: i32,
    records: &[(Option<&str>, &str, i64)],
) -> kafka_protocol::messages::produce_response::PartitionProduceResponse {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(t))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch(records))),
                ]),
        ]);
    // Apache Kafka may still refuse a new partition's first produce for a moment after its
    // Metadata names the leader; a client retries those two errors, and so does this.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let r = call(&b.bootstrap, version, &req).responses[0].partition_responses[0].clone();
        let retriable = [
            ResponseError::NotLeaderOrFollower.code(),
            ResponseError::UnknownTopicOrPartition.code(),
        ];
        if !retriable.contains(&r.error_code) || std::time::Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn fetch(b: &TestBroker, t: &str, partitions: &[(i32, i64)], max_bytes: i32) -> Vec<(i16, usize)> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_topics(vec![
            FetchTopic::default().with_topic(name(t)).with_partitions(
                partitions
                    .iter()
                    .map(|(p, offset)| {
                        FetchPartition::default()
                            .with_partition(*p)
                            .with_fetch_offset(*offset)
                            .with_partition_max_bytes(1_048_576)
                    })
                    .collect(),
            ),
        ]);
    call(&b.bootstrap, 12, &req).responses[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.error_code,
                p.records.as_ref().map_or(0, bytes::Bytes::len),
            )
        })
        .collect()
}

#[test]
fn a_keyless_record_on_a_compacted_topic_is_named_and_the_batch_refused() {
    let b = TestBroker::start();
    create(&b, topic("compacted", 1, &[("cleanup.policy", "compact")]));
    let records = [
        (Some("a"), "1", 1),
        (None, "2", 1),
        (Some("c"), "3", 1),
        (None, "4", 1),
        (Some("e"), "5", 1),
    ];
    let r = produce(&b, 9, "compacted", 0, &records);
    assert_eq!(r.error_code, ResponseError::InvalidRecord.code());
    let indexes: Vec<i32> = r.record_errors.iter().map(|e| e.batch_index).collect();
    assert_eq!(indexes, vec![1, 3], "KIP-467 lists the records at fault");
    let message = r
        .error_message
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(message.contains("without key"), "{message}");
    // v7 predates KIP-467: the code alone.
    let old = produce(&b, 7, "compacted", 0, &records);
    assert_eq!(old.error_code, ResponseError::InvalidRecord.code());
    assert!(old.record_errors.is_empty());
    // Nothing of either batch was written.
    let ok = produce(&b, 9, "compacted", 0, &[(Some("a"), "1", 1)]);
    assert_eq!((ok.error_code, ok.base_offset), (0, 0));
}

#[test]
fn a_produce_with_two_batches_for_one_partition_is_refused_whole() {
    let b = TestBroker::start();
    create(&b, topic("two-batches", 1, &[]));
    let mut two = bytes::BytesMut::from(&batch(&[(Some("a"), "1", 1)])[..]);
    two.extend_from_slice(&batch(&[(Some("b"), "2", 1)]));
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name("two-batches"))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(two.freeze())),
                ]),
        ]);
    let r = call(&b.bootstrap, 9, &req).responses[0].partition_responses[0].clone();
    assert_eq!(r.error_code, ResponseError::InvalidRecord.code(), "{r:?}");
    assert!(r.record_errors.is_empty(), "{r:?}");
    let ok = produce(
        &b,
        9,
        "two-batches",
        0,
        &[(Some("a"), "1", 1), (Some("b"), "2", 1)],
    );
    assert_eq!(
        (ok.error_code, ok.base_offset),
        (0, 0),
        "nothing of the refused request"
    );
}

#[test]
fn a_fetch_never_exceeds_max_bytes_except_for_one_first_batch() {
    let b = TestBroker::start();
    create(&b, topic("big", 3, &[("max.message.bytes", "2000000")]));
    let value = "x".repeat(600_000);
    for p in 0..3 {
        assert_eq!(
            produce(&b, 9, "big", p, &[(Some("k"), &value, 1)]).error_code,
            0
        );
    }
    let all = [(0, 0), (1, 0), (2, 0)];
    let got = fetch(&b, "big", &all, 1_000_000);
    let total: usize = got.iter().map(|(_, n)| n).sum();
    assert!(got[0].1 > 600_000, "the first partition's batch: {got:?}");
    assert!(total <= 1_000_000, "response holds {total} bytes: {got:?}");
    // One batch larger than the whole limit still goes out, alone, so the consumer progresses.
    let huge = "y".repeat(1_500_000);
    assert_eq!(
        produce(&b, 9, "big", 1, &[(Some("k"), &huge, 1)]).error_code,
        0
    );
    let got = fetch(&b, "big", &[(1, 1), (2, 0)], 1_000_000);
    assert!(got[0].1 > 1_500_000, "{got:?}");
    assert_eq!(
        got[1].1, 0,
        "nothing more after the oversized first batch: {got:?}"
    );
}

#[test]
fn create_topics_takes_the_count_from_explicit_assignments() {
    let b = TestBroker::start();
    let assign = |brokers: &[i32]| {
        (0..brokers.len() as i32)
            .map(|p| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(p)
                    .with_broker_ids(vec![BrokerId(brokers[p as usize])])
            })
            .collect::<Vec<_>>()
    };
    let explicit = |n: &str, brokers: &[i32]| {
        CreatableTopic::default()
            .with_name(name(n))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(assign(brokers))
    };
    let me = common::wire::node_id(&b.bootstrap);
    let (code, message, count) = create(&b, explicit("assigned", &[me, me, me]));
    assert_eq!((code, count), (0, 3), "{message:?}");
    let (code, message, _) = create(&b, explicit("elsewhere", &[me, me + 5]));
    assert_eq!(
        code,
        ResponseError::InvalidReplicaAssignment.code(),
        "{message:?}"
    );
    let both = explicit("both", &[me]).with_num_partitions(1);
    assert_eq!(create(&b, both).0, ResponseError::InvalidRequest.code());
}

#[test]
fn delete_records_moves_the_log_start_and_refuses_past_the_end() {
    let b = TestBroker::start();
    create(&b, topic("trim", 1, &[]));
    let five: Vec<(Option<&str>, &str, i64)> = (0..5).map(|_| (Some("k"), "v", 1)).collect();
    produce(&b, 9, "trim", 0, &five);
    produce(&b, 9, "trim", 0, &five);
    let delete = |offset: i64| {
        let req = DeleteRecordsRequest::default()
            .with_timeout_ms(5_000)
            .with_topics(vec![
                DeleteRecordsTopic::default()
                    .with_name(name("trim"))
                    .with_partitions(vec![
                        DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(offset),
                    ]),
            ]);
        let p = call(&b.bootstrap, 2, &req).topics[0].partitions[0].clone();
        (p.error_code, p.low_watermark)
    };
    assert_eq!(delete(7), (0, 7), "inside the second batch");
    let earliest = call(
        &b.bootstrap,
        7,
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(name("trim"))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(-2),
                    ]),
            ]),
    );
    assert_eq!(earliest.topics[0].partitions[0].offset, 7);
    assert_eq!(
        fetch(&b, "trim", &[(0, 3)], 1 << 20)[0].0,
        ResponseError::OffsetOutOfRange.code()
    );
    let (code, bytes) = fetch(&b, "trim", &[(0, 7)], 1 << 20)[0];
    assert!(code == 0 && bytes > 0, "the batch holding 7 is served");
    assert_eq!(delete(11).0, ResponseError::OffsetOutOfRange.code());
    assert_eq!(delete(-1), (0, 10), "-1 means the high watermark");
    assert_eq!(delete(4), (0, 10), "the log start never moves back");
}

#[test]
fn acl_apis_are_advertised_and_say_security_is_disabled() {
    let b = TestBroker::start();
    let versions = call(
        &b.bootstrap,
        3,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("wire-test"))
            .with_client_software_version(StrBytes::from_static_str("1.0")),
    );
    assert_eq!(versions.error_code, 0);
    for key in [
        ApiKey::DescribeAcls,
        ApiKey::CreateAcls,
        ApiKey::DeleteAcls,
        ApiKey::DeleteRecords,
    ] {
        assert!(
            versions.api_keys.iter().any(|k| k.api_key == key as i16),
            "{key:?} advertised"
        );
    }
    let disabled = ResponseError::SecurityDisabled.code();
    // Filters of ANY (1): Kafka drops the connection on the default UNKNOWN (0).
    let describe = call(
        &b.bootstrap,
        3,
        &DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
    );
    assert_eq!(describe.error_code, disabled);
    let created = call(
        &b.bootstrap,
        3,
        // TOPIC (2) "t", LITERAL (3), READ (3), ALLOW (3).
        &CreateAclsRequest::default().with_creations(vec![
            AclCreation::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_static_str("t"))
                .with_resource_pattern_type(3)
                .with_principal(StrBytes::from_static_str("User:alice"))
                .with_host(StrBytes::from_static_str("*"))
                .with_operation(3)
                .with_permission_type(3);
            2
        ]),
    );
    assert_eq!(created.results.len(), 2);
    assert!(created.results.iter().all(|r| r.error_code == disabled));
    let deleted = call(
        &b.bootstrap,
        3,
        &DeleteAclsRequest::default().with_filters(vec![
            DeleteAclsFilter::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        ]),
    );
    assert_eq!(deleted.filter_results[0].error_code, disabled);
}

#[test]
fn delete_topics_answers_in_every_version() {
    use kafka_protocol::messages::DeleteTopicsRequest;
    let b = TestBroker::start();
    for version in 1..=6 {
        let t = format!("doomed-{version}");
        assert_eq!(create(&b, topic(&t, 1, &[])).0, 0);
        let req = DeleteTopicsRequest::default()
            .with_topic_names(vec![name(&t), name("never-was")])
            .with_timeout_ms(5_000);
        let req = if version >= 6 {
            use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
            DeleteTopicsRequest::default()
                .with_topics(vec![
                    DeleteTopicState::default().with_name(Some(name(&t))),
                    DeleteTopicState::default().with_name(Some(name("never-was"))),
                ])
                .with_timeout_ms(5_000)
        } else {
            req
        };
        let resp = call(&b.bootstrap, version, &req);
        // Kafka answers per topic in no promised order (errors first, as it happens).
        let results: BTreeSet<(Option<String>, i16)> = resp
            .responses
            .iter()
            .map(|r| (r.name.as_ref().map(|n| n.0.to_string()), r.error_code))
            .collect();
        assert_eq!(
            results,
            BTreeSet::from([
                (Some(name(&t).0.to_string()), 0),
                (
                    Some(name("never-was").0.to_string()),
                    ResponseError::UnknownTopicOrPartition.code()
                )
            ]),
            "v{version}"
        );
    }
}
