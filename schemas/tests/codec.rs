//! The codec against the embedded broker + registry: framing with the registry's ids,
//! auto-registration, decoding by a second codec, JSON rendering, and each error class.

mod samples;

use serde_json::json;
use techpotli_kafka::BrokerConfig;
use techpotli_registry::RegistryConfig;
use techpotli_schemas::codec::{self, Codec, CodecError};
use techpotli_schemas::types::*;
use techpotli_schemas::{AvroRecord, avsc};

/// The id the registry itself reports for `T`'s schema under `<topic>-value`.
async fn registry_id<T: AvroRecord>(url: &str, topic: &str) -> u64 {
    let resp: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/subjects/{topic}-value"))
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .body(json!({"schema": avsc::text(T::SCHEMA_FILE).unwrap()}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    resp["id"].as_u64().unwrap_or_else(|| panic!("{resp}"))
}

/// The codec can be shared across tasks and its futures can be spawned.
#[allow(dead_code)]
fn codec_is_shareable(codec: &Codec, sample: &StockLevel, bytes: &[u8]) {
    fn send<T: Send>(_: &T) {}
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<Codec>();
    send(&codec.encode("inventory.levels", sample));
    send(&codec.decode::<StockLevel>(bytes));
    send(&codec.decode_json(bytes));
}

fn id_of(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes[1..5].try_into().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codec_against_the_embedded_registry() {
    let broker = techpotli_kafka::start(BrokerConfig::default())
        .await
        .unwrap();
    let registry = techpotli_registry::start(RegistryConfig::new(broker.bootstrap()))
        .await
        .unwrap();
    let url = registry.url();

    // Without auto-registration, an unregistered schema is refused.
    let lookup_only = Codec::new(&url);
    assert!(!lookup_only.auto_register());
    let sample = samples::payment_event().remove(1);
    let err = lookup_only
        .encode("payments.events", &sample)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CodecError::NotRegistered { subject, record }
            if subject == "payments.events-value" && record == "com.techpotli.payments.PaymentEvent"),
        "{err:?}"
    );
    assert_eq!(err.class(), "schema-not-registered");

    // With it, the first encode registers; the frame carries the registry's id.
    let dev = Codec::new(&url).with_auto_register(true);
    let mut framed = Vec::new();
    for sample in samples::payment_event() {
        let bytes = dev.encode("payments.events", &sample).await.unwrap();
        assert_eq!(bytes[0], 0);
        framed.push((sample, bytes));
    }
    let payments_id = id_of(&framed[0].1);
    assert_eq!(
        u64::from(payments_id),
        registry_id::<PaymentEvent>(&url, "payments.events").await
    );
    assert!(framed.iter().all(|(_, b)| id_of(b) == payments_id));
    let level = samples::stock_level().remove(0);
    let level_bytes = dev.encode("inventory.levels", &level).await.unwrap();
    let level_id = id_of(&level_bytes);
    assert_ne!(level_id, payments_id);
    assert_eq!(
        u64::from(level_id),
        registry_id::<StockLevel>(&url, "inventory.levels").await
    );

    // Both codecs decode; the second has never seen these ids (they are the registry's).
    for (sample, bytes) in &framed {
        assert_eq!(&dev.decode::<PaymentEvent>(bytes).await.unwrap(), sample);
        assert_eq!(
            &lookup_only.decode::<PaymentEvent>(bytes).await.unwrap(),
            sample
        );
    }
    assert_eq!(
        lookup_only
            .decode::<StockLevel>(&level_bytes)
            .await
            .unwrap(),
        level
    );
    // Now registered, the lookup-only codec frames identically.
    assert_eq!(
        lookup_only
            .encode("payments.events", &framed[1].0)
            .await
            .unwrap(),
        framed[1].1
    );
    assert_eq!(
        lookup_only
            .schema_id::<PaymentEvent>("payments.events")
            .await
            .unwrap(),
        payments_id
    );

    // decode_json: readable, unions unwrapped, enums as symbols.
    let (id, value) = lookup_only.decode_json(&framed[1].1).await.unwrap();
    assert_eq!(id, payments_id);
    assert_eq!(
        value,
        json!({
            "event_id": samples::id(27).to_string(),
            "event_time": samples::at(26),
            "order_id": "ord-1",
            "provider": "razorpay",
            "provider_reference": "pay_123",
            "payload": {
                "amount_minor": 146_170,
                "currency": "INR",
                "reason": "INSUFFICIENT_FUNDS",
                "provider_message": "NSF"
            }
        })
    );
    let (_, value) = dev.decode_json(&level_bytes).await.unwrap();
    assert_eq!(value["last_change_reason"], "RESERVATION");
    assert_eq!(value["flagged"], true);

    errors(&dev, payments_id, &framed[0].1).await;

    registry.shutdown().await;
    broker.shutdown().await;
}

async fn errors(codec: &Codec, known_id: u32, good: &[u8]) {
    let check = |r: Result<PaymentEvent, CodecError>, class: &str| {
        let err = r.unwrap_err();
        assert_eq!(err.class(), class, "{err}");
        assert!(!err.is_transient(), "{err}");
        err
    };
    // Not Confluent framing.
    check(codec.decode(b"{\"json\":1}").await, "not-framed");
    check(codec.decode(&[0, 0, 0]).await, "not-framed");
    check(codec.decode(&[]).await, "not-framed");
    assert!(codec.decode_json(&[7, 0, 0, 0, 1]).await.is_err());
    // An id the registry never assigned.
    let mut unknown = codec::header(4242).to_vec();
    unknown.extend_from_slice(&good[5..]);
    let err = check(codec.decode(&unknown).await, "unknown-schema-id");
    assert!(matches!(err, CodecError::UnknownSchemaId { id: 4242 }));
    // A known id but bytes that are not a datum of it (truncated, or trailing garbage).
    let mut garbage = codec::header(known_id).to_vec();
    garbage.extend_from_slice(&[0xff, 0xff, 0xff]);
    check(codec.decode(&garbage).await, "avro-decode");
    check(codec.decode(&good[..good.len() - 3]).await, "avro-decode");
    assert_eq!(
        codec.decode_json(&garbage).await.unwrap_err().class(),
        "avro-decode"
    );
    // A valid PaymentEvent read as a StockLevel: the writer schema does not resolve to ours.
    let err = codec.decode::<StockLevel>(good).await.unwrap_err();
    assert_eq!(err.class(), "schema-incompatible", "{err}");

    // No registry there at all: transient, not the record's fault.
    let nowhere = Codec::new("http://127.0.0.1:9/");
    assert_eq!(nowhere.registry_url(), "http://127.0.0.1:9");
    let err = nowhere.decode::<PaymentEvent>(good).await.unwrap_err();
    assert!(
        matches!(err, CodecError::RegistryUnreachable { .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    let sample = samples::stock_level().remove(0);
    let err = nowhere
        .with_auto_register(true)
        .encode("inventory.levels", &sample)
        .await
        .unwrap_err();
    assert_eq!(err.class(), "registry-unreachable", "{err}");
}
