//! `apply` against the embedded broker: creates everything, is idempotent, fixes config
//! drift and reports partition drift without touching it.

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, NewPartitions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use techpotli_topics::apply::apply;
use techpotli_topics::catalogue;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_is_idempotent_and_reports_drift() {
    let broker = techpotli_kafka::start(techpotli_kafka::BrokerConfig::default())
        .await
        .unwrap();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    let c = catalogue();
    let total = c.all().len();

    let first = apply(&admin, c, false).await.unwrap();
    assert_eq!(
        first.created.len(),
        total,
        "everything created on an empty cluster"
    );
    let again = apply(&admin, c, false).await.unwrap();
    assert!(
        again.created.is_empty() && again.altered.is_empty() && again.partition_drift.is_empty()
    );
    assert_eq!(again.unchanged, total);

    // Someone changes a config and adds partitions by hand.
    let opts = AdminOptions::new();
    let alter = AlterConfig::new(ResourceSpecifier::Topic("orders.placed"))
        .set("retention.ms", "1000")
        .set("cleanup.policy", "delete");
    admin
        .alter_configs([&alter], &opts)
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    admin
        .create_partitions([&NewPartitions::new("pricing.prices", 8)], &opts)
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();

    let dry = apply(&admin, c, true).await.unwrap();
    assert_eq!(dry.altered.len(), 1, "dry run reports the drift");
    let fixed = apply(&admin, c, false).await.unwrap();
    assert_eq!(fixed.altered[0].0, "orders.placed");
    assert_eq!(
        fixed.altered[0].1,
        vec![(
            "retention.ms".to_owned(),
            Some("1000".to_owned()),
            "2592000000".to_owned()
        )]
    );
    assert_eq!(
        fixed.partition_drift,
        vec![("pricing.prices".to_owned(), 8, 6)]
    );
    let after = apply(&admin, c, false).await.unwrap();
    assert!(after.altered.is_empty(), "config drift fixed");
    assert_eq!(
        after.partition_drift.len(),
        1,
        "partition drift is reported, never changed"
    );
    broker.shutdown().await;
}
