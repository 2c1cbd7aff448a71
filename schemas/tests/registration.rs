//! `register_all` / `check_all` against the embedded broker + registry.

use serde_json::json;
use techpotli_kafka::BrokerConfig;
use techpotli_registry::RegistryConfig;
use techpotli_schemas::registration::{RegistrationError, check_all, register_all};

const PAIRS: &[(&str, &str)] = &[
    ("orders.placed", "order_placed.avsc"),
    ("inventory.levels", "stock_level.avsc"),
    ("inventory.reservations", "reservation_result.avsc"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_check() {
    let broker = techpotli_kafka::start(BrokerConfig::default())
        .await
        .unwrap();
    let registry = techpotli_registry::start(RegistryConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    let url = registry.url();

    // Nothing registered yet: every subject is new, hence compatible.
    let checked = check_all(&url, PAIRS).await.unwrap();
    assert_eq!(checked.len(), 3);
    for ((subject, compatible, messages), (topic, _)) in checked.iter().zip(PAIRS) {
        assert_eq!(subject, &format!("{topic}-value"));
        assert!(compatible);
        assert_eq!(messages, &["new subject"]);
    }

    // Registration is idempotent and returns the registry's ids.
    let first = register_all(&url, PAIRS).await.unwrap();
    let subjects: Vec<&str> = first.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "orders.placed-value",
            "inventory.levels-value",
            "inventory.reservations-value"
        ]
    );
    assert_eq!(register_all(&url, PAIRS).await.unwrap(), first);
    let listed: Vec<String> = reqwest::get(format!("{url}/subjects"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);

    // Against themselves: compatible, nothing to say.
    for (_, compatible, messages) in check_all(&url, PAIRS).await.unwrap() {
        assert!(compatible, "{messages:?}");
    }

    // A subject holding something else: our schema cannot read it (no defaults for its fields).
    let http = reqwest::Client::new();
    let other = json!({"type": "record", "name": "StockLevel", "namespace": "com.techpotli.inventory",
        "fields": [{"name": "sku", "type": "long"}]});
    let resp = http
        .post(format!("{url}/subjects/legacy.levels-value/versions"))
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .body(json!({"schema": other.to_string()}).to_string())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let checked = check_all(&url, &[("legacy.levels", "stock_level.avsc")])
        .await
        .unwrap();
    let (subject, compatible, messages) = &checked[0];
    assert_eq!(subject, "legacy.levels-value");
    assert!(!compatible);
    assert!(!messages.is_empty());
    // ... so registering it there is refused with the registry's 409.
    let err = register_all(&url, &[("legacy.levels", "stock_level.avsc")])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RegistrationError::Refused { subject, code: Some(409), .. }
            if subject == "legacy.levels-value"),
        "{err:?}"
    );

    // Caller mistakes and a registry that is not there.
    let err = register_all(&url, &[("x", "nope.avsc")]).await.unwrap_err();
    assert!(
        matches!(err, RegistrationError::UnknownSchemaFile { .. }),
        "{err:?}"
    );
    let err = check_all(&url, &[("x", "nope.avsc")]).await.unwrap_err();
    assert!(
        matches!(err, RegistrationError::UnknownSchemaFile { .. }),
        "{err:?}"
    );
    let err = register_all("http://127.0.0.1:9", PAIRS).await.unwrap_err();
    assert!(
        matches!(err, RegistrationError::RegistryUnreachable { .. }),
        "{err:?}"
    );
    let err = check_all("http://127.0.0.1:9", PAIRS).await.unwrap_err();
    assert!(
        matches!(err, RegistrationError::RegistryUnreachable { .. }),
        "{err:?}"
    );

    registry.shutdown().await;
    broker.shutdown().await;
}
